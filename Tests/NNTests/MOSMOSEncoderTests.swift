import XCTest
import Foundation
import Engine
import NN
@testable import Models

/// MOSMOS's second 2D encoder (CLIP's modified ResNet) and the weight-transfer seams, against PyTorch. Every
/// constant below was printed by scripts/golden/mosmos_encoders.py (torch 2.15, torchvision 0.29.2, float64).
final class MOSMOSEncoderTests: XCTestCase {
    // MARK: CLIP's modified ResNet

    /// Counts from mosmos_encoders.py: CLIP's RN50 visual tower with its attention pool (as published,
    /// 38,316,896), and the U-Net over it without the pool (14 classes, decoder 256/128/64/32/16).
    func testCLIPResNet50AndItsUNetMatchPyTorchCounts() {
        let visual = CLIPResNet(.rn50)
        XCTAssertEqual(visual.parameterCount, 38_316_896, "RN50 visual, 3 channels, attnpool included")
        XCTAssertEqual(visual.attnpool!.parameterCount, 14_789_632)

        let unet = ResNetUNet(ResNetUNetConfig(encoder: .clip))
        XCTAssertEqual(unet.parameterCount, 32_541_646, "CLIP U-Net, 1 channel, 14 classes, no attnpool")
        XCTAssertEqual(unet.encoder.parameterCount, 23_526_688, "its encoder alone")
        // Three input channels add 2 × 32 × 3 × 3 to conv1 (PyTorch: 32,542,222).
        let conv1 = (unet.encoder as! CLIPResNet).conv1.weight
        XCTAssertEqual(unet.parameterCount + 2 * conv1.count, 32_542_222)

        // The U-Net's encoder has CLIP's key names, minus the pool; the torchvision variant keeps its own.
        let visualKeys = Set(visual.stateDict().keys.filter { !$0.hasPrefix("attnpool.") })
        XCTAssertEqual(Set(unet.encoder.stateDict().keys), visualKeys)
        XCTAssertTrue(visualKeys.contains("layer2.0.downsample.0.weight") && visualKeys.contains("layer2.0.downsample.1.running_var"))
    }

    /// A tiny CLIP ResNet (layers [1,1,1,1], width 8, 4 heads, output 32, 64 px) with every parameter set by the
    /// script's formula, BN in eval mode: the five U-Net features and the attention pool's global and dense
    /// outputs at 64 px and at 96 px (where the positional embedding is resized from 2×2 to 3×3).
    func testTinyCLIPResNetMatchesPyTorch() {
        let model = CLIPResNet(CLIPResNetConfig(layers: [1, 1, 1, 1], width: 8, outputDim: 32, heads: 4, inputResolution: 64))
        XCTAssertEqual(model.namedParameters().count, 66)
        XCTAssertEqual(model.stateDict().count, 123)
        Self.formulaInit(model)
        model.eval()

        let features: [(shape: [Int], sum: Double, squares: Double, picks: [Double])] = [
            ([2, 8, 32, 32], 450.750053, 39.5562154, [0.0133080288, 0.053598182, 0, 0.0462523401]),
            ([2, 32, 16, 16], 719.691199, 77.0899871, [0.087030697, 0, 0, 0]),
            ([2, 64, 8, 8], 324.129883, 40.4190478, [0.124061221, 0, 0.00267849063, 0.0174436575]),
            ([2, 128, 4, 4], 334.723363, 75.6526649, [0, 0.171694352, 0, 0.134842139]),
            ([2, 256, 2, 2], 258.685486, 113.241548, [0, 0.190619254, 0.148529799, 0.118454567]),
        ]
        let pools: [Int: [(sum: Double, squares: Double, picks: [Double])]] = [
            64: [(1.61012719, 4.30820556, [-0.24760092, 0.0245354129, -0.120620494, 0.316046995]),
                 (6.87825707, 15.6241814, [-0.249635181, 0.0104446487, -0.119947272, 0.263665204]),
                 (9.71893854, 22.4499679, [-0.347157564, -0.0695887081, -0.0535854479, 0.351985067])],
            96: [(1.56550612, 4.32527651, [-0.24245132, 0.0319126296, -0.126683645, 0.316619643]),
                 (14.6691637, 36.3839865, [-0.244797642, 0.0216480584, -0.126932201, 0.282276037]),
                 (21.7284616, 51.0454457, [-0.34369593, -0.0657953217, -0.0543697526, 0.353584431])],
        ]
        withoutGrad {
            for size in [64, 96] {
                let n = 2 * 3 * size * size
                let x = Tensor((0..<n).map { Float(sin(0.05 * Double($0))) }, shape: [2, 3, size, size])
                let f = model.features(x)
                if size == 64 {
                    for (i, (t, ref)) in zip(f, features).enumerated() {
                        XCTAssertEqual(t.shape, ref.shape, "feature \(i)")
                        Self.assertProbe(t, ref.sum, ref.squares, ref.picks, "feature \(i)")
                    }
                }
                let pool = model.attnpool!
                let (global, dense) = pool(f[4], dense: .attention)
                let (globalToo, value) = pool(f[4], dense: .value)
                let g = size / 32
                XCTAssertEqual(dense.shape, [2, 32, g, g])
                XCTAssertEqual(value.shape, [2, 32, g, g])
                let ref = pools[size]!
                Self.assertProbe(global, ref[0].sum, ref[0].squares, ref[0].picks, "global at \(size)")
                Self.assertProbe(globalToo, ref[0].sum, ref[0].squares, ref[0].picks, "global (value mode) at \(size)")
                Self.assertProbe(dense, ref[1].sum, ref[1].squares, ref[1].picks, "DenseCLIP tokens at \(size)")
                Self.assertProbe(value, ref[2].sum, ref[2].squares, ref[2].picks, "MaskCLIP tokens at \(size)")
                Self.assertProbe(model(x), ref[0].sum, ref[0].squares, ref[0].picks, "encode_image at \(size)")
            }
        }
    }

    /// The CLIP variant of the U-Net trains end to end: with no attention pool, every parameter gets a gradient.
    func testCLIPUNetMapsImagesToLogitsAndEveryParameterGetsAGradient() {
        let model = ResNetUNet(ResNetUNetConfig(inChannels: 3, classes: 4, layers: [1, 1, 1, 1],
                                                decoderChannels: [32, 16, 8, 8, 8], encoder: .clip))
        model.initialize(seed: 4)
        var rng = RNG(seed: 5)
        let y = model(Tensor.randn([2, 3, 32, 32], rng: &rng))
        XCTAssertEqual(y.shape, [2, 4, 32, 32])
        Loss.crossEntropy(y, (0..<(2 * 32 * 32)).map { $0 % 4 }).backward()
        for (name, p) in model.namedParameters() {
            XCTAssertNotNil(p.grad, "\(name) gets no gradient")
        }
        // CLIP's reference initialisation: each block's last BN scale starts at zero.
        let lastScales = (model.encoder as! CLIPResNet).layer3.compactMap { ($0 as? AntiAliasedBottleneck)?.bn3.weight }
        XCTAssertEqual(lastScales.count, 1)
        XCTAssertTrue(lastScales.allSatisfy { $0.array.allSatisfy { $0 == 0 } })
    }

    // MARK: Weight transfer

    /// A depth-constant volume through the inflated kernel gives the 2D response of one slice: as a patch
    /// embedding (stride = kernel) and as a 3×3×3 convolution without depth padding.
    func testInflatedKernelOnADepthConstantVolumeEqualsThe2DConvolution() {
        var rng = RNG(seed: 6)
        // (kernel, depth, in-plane stride, depth stride, in-plane padding, volume depth)
        for (k, depth, stride, depthStride, pad, volumeDepth) in [(4, 4, 4, 4, 0, 4), (3, 3, 1, 1, 1, 5)] {
            let w2 = Tensor.randn([5, 2, k, k], rng: &rng)
            let w3 = inflatePatchEmbedding(weight2D: w2, depth: depth)
            XCTAssertEqual(w3.shape, [5, 2, depth, k, k])
            let slice = Tensor.randn([1, 2, 8, 8], rng: &rng)
            let volume = Tensor.stack([Tensor](repeating: slice, count: volumeDepth), axis: 2)
            let y2 = Tensor.conv2d(slice, w2, stride: stride, padding: pad)
            let y3 = Tensor.conv3d(volume, w3, stride: [depthStride, stride, stride], padding: [0, pad, pad])
            let outDepth = y3.shape[2]
            XCTAssertEqual(outDepth, volumeDepth - depth + 1)
            for z in 0..<outDepth {
                let got = y3.slice(axis: 2, z, z + 1).squeezed(2)
                XCTAssertEqual(got.shape, y2.shape)
                for (a, b) in zip(got.array, y2.array) { XCTAssertEqual(a, b, accuracy: 1e-5) }
            }
        }
    }

    /// Against F.interpolate in mosmos_encoders.py: timm's layout with a class token (2×2 → 3×3), a non-square
    /// downsampling without one ([1, 4] → [3, 2]), 3D → 3D, and 2D → 3D, which must equal the 2D resize per slice.
    func testPositionEmbeddingResizingMatchesTorchInterpolate() {
        let pos = Tensor((0..<15).map { Float(sin(0.3 * Double($0) + 0.2)) }, shape: [1, 5, 3])
        let to3x3: [Float] = [0.198669331, 0.479425539, 0.717356091, 0.89120736, 0.98544973, 0.99166481, 0.900252393, 0.865577471, 0.753583091, 0.909297427, 0.745705212, 0.515501372, 0.565228345, 0.463537793, 0.320440791, 0.356974056, 0.213625922, 0.0511952202, 0.148719768, -0.0362859494, -0.218050351, 0.239249329, -0.0583741434, -0.350783228, -0.186304281, -0.438325627, -0.651192651, -0.611857891, -0.818277111, -0.951602074]
        let p2 = interpolatePositionEmbedding(pos, from: [2, 2], to: [3, 3], hasClassToken: true)
        XCTAssertEqual(p2.shape, [1, 10, 3])
        Self.assertClose(p2.array, to3x3, 1e-6)

        let rowTo3x2: [Float] = [0.900252393, 0.865577471, 0.753583091, -0.186304281, -0.438325627, -0.651192651, 0.900252393, 0.865577471, 0.753583091, -0.186304281, -0.438325627, -0.651192651, 0.900252393, 0.865577471, 0.753583091, -0.186304281, -0.438325627, -0.651192651]
        let p4 = interpolatePositionEmbedding(pos.slice(axis: 1, 1, 5), from: [1, 4], to: [3, 2], hasClassToken: false)
        XCTAssertEqual(p4.shape, [1, 6, 3])
        Self.assertClose(p4.array, rowTo3x2, 1e-6)

        let pos3 = Tensor((0..<24).map { Float(sin(0.45 * Double($0))) }, shape: [1, 8, 3])
        let cubeTo3x2x3: [Float] = [0, 0.434965534, 0.78332691, 0.487861679, 0.704406582, 0.780700053, 0.975723358, 0.973847631, 0.778073197, 0.42737988, -0.00840724737, -0.442520443, -0.180572687, -0.492968683, -0.707211756, -0.788525254, -0.977530118, -0.971903069, -0.386382244, 0.00760075814, 0.400070405, 0.163250736, 0.445679253, 0.639370447, 0.712883716, 0.883757747, 0.87867049, 0.698634846, 0.379496955, -0.015200979, 0.145881268, -0.169018025, -0.45026485, -0.40687231, -0.717533006, -0.885328722, -0.772764488, -0.419764018, 0.0168139005, -0.161360207, 0.186951923, 0.498040842, 0.450044074, 0.793667864, 0.979267783, 0.969889811, 0.767401157, 0.412118485, 0.472335223, 0.154932632, -0.193317945, -0.0252193651, -0.457535894, -0.798754374]
        let p6 = interpolatePositionEmbedding(pos3, from: [2, 2, 2], to: [3, 2, 3], hasClassToken: false)
        XCTAssertEqual(p6.shape, [1, 18, 3])
        Self.assertClose(p6.array, cubeTo3x2x3, 1e-6)

        let p3 = interpolatePositionEmbedding(pos, from: [2, 2], to: [2, 3, 3], hasClassToken: true)
        XCTAssertEqual(p3.shape, [1, 19, 3])
        let planes = Array(p3.array.dropFirst(3))
        Self.assertClose(Array(p3.array.prefix(3)), Array(to3x3.prefix(3)), 0)
        Self.assertClose(Array(planes.prefix(27)), Array(to3x3.dropFirst(3)), 1e-6)
        Self.assertClose(Array(planes.suffix(27)), Array(to3x3.dropFirst(3)), 1e-6)
    }

    /// smp's rule for a 3-channel first convolution on 1 channel: a grey image through the summed kernel gives
    /// what the grey image copied to RGB gives the original; for 6 channels the cycled, halved kernels do the same.
    func testAdaptedFirstConvolutionKeepsTheResponseToGreyImages() {
        var rng = RNG(seed: 7)
        let w = Tensor.randn([4, 3, 3, 3], rng: &rng)
        let grey = Tensor.randn([1, 1, 6, 6], rng: &rng)
        let rgb = Tensor.concat([grey, grey, grey], axis: 1)
        let reference = Tensor.conv2d(rgb, w, padding: 1).array
        XCTAssertEqual(adaptInputChannels(w, to: 1).shape, [4, 1, 3, 3])
        Self.assertClose(Tensor.conv2d(grey, adaptInputChannels(w, to: 1), padding: 1).array, reference, 1e-5)
        let six = Tensor.concat([rgb, rgb], axis: 1)
        Self.assertClose(Tensor.conv2d(six, adaptInputChannels(w, to: 6), padding: 1).array, reference, 1e-5)
    }

    /// A torchvision-named ResNet's state dict (a Swift ResNet, inside a checkpoint with another tower) loads into
    /// the U-Net's encoder: every encoder key loaded, the classifier reported unexpected, the other tower skipped.
    /// A conv1 made for 3 channels is refused with one error naming the key and both shapes, and nothing is loaded.
    func testEncoderWeightsLoadByNameAndAShapeMismatchIsOneErrorThatLoadsNothing() throws {
        let unet = ResNetUNet(ResNetUNetConfig(layers: [1, 1, 1, 1], decoderChannels: [32, 16, 8, 8, 8]))
        let pretrained = ResNet(ResNetConfig(block: .bottleneck, layers: [1, 1, 1, 1], inChannels: 1, numClasses: 10))
        Self.formulaInit(pretrained)
        var checkpoint = Dictionary(uniqueKeysWithValues: pretrained.stateDict().map { ("module.encoder_q.\($0.key)", $0.value) })
        checkpoint["module.queue"] = Tensor(zeros: [16, 4])
        checkpoint["module.encoder_k.conv1.weight"] = Tensor(zeros: [64, 1, 7, 7])

        XCTAssertTrue(unet.encoder is ResNet)
        let report = try loadEncoderWeights(checkpoint, into: unet.encoder, prefix: "module.encoder_q.")
        let encoderKeys = unet.encoder.stateDict().keys.sorted()
        XCTAssertEqual(report.loaded, encoderKeys)
        XCTAssertEqual(report.missing, [])
        XCTAssertEqual(report.unexpected, ["fc.bias", "fc.weight"])
        XCTAssertEqual(report.skipped, 2)
        let source = pretrained.stateDict()
        for (k, t) in unet.encoder.stateDict() { XCTAssertTrue(Self.sameValues(t, source[k]!), k) }

        let before = unet.encoder.stateDict().mapValues { $0.detached() }
        let rgb = ResNet(ResNetConfig(block: .bottleneck, layers: [1, 1, 1, 1], inChannels: 3))
        XCTAssertThrowsError(try loadEncoderWeights(rgb.stateDict(), into: unet.encoder)) { error in
            XCTAssertEqual(error as? WeightTransferError, .shapeMismatch(key: "conv1.weight", checkpointKey: "conv1.weight",
                                                                        checkpoint: [64, 3, 7, 7], model: [64, 1, 7, 7], others: 0))
            let text = "\(error)"
            XCTAssertTrue(text.contains("conv1.weight") && text.contains("[64, 3, 7, 7]") && text.contains("[64, 1, 7, 7]"), text)
        }
        for (k, t) in unet.encoder.stateDict() { XCTAssertTrue(Self.sameValues(t, before[k]!), "\(k) changed by a refused load") }
    }

    /// CLIP's image tower (keys under "visual.") loads into the CLIP U-Net's encoder, with the pool's five tensors
    /// reported unexpected; a rename rule maps another naming of the stem.
    func testCLIPVisualWeightsLoadIntoTheCLIPUNetEncoder() throws {
        let unet = ResNetUNet(ResNetUNetConfig(inChannels: 3, layers: [1, 1, 1, 1], decoderChannels: [32, 16, 8, 8, 8], encoder: .clip))
        let visual = CLIPResNet(CLIPResNetConfig(layers: [1, 1, 1, 1], outputDim: 8))
        Self.formulaInit(visual)
        var checkpoint: [String: Tensor] = [:]
        for (k, t) in visual.stateDict() {
            // A checkpoint that calls the stem "stem.convN"/"stem.bnN".
            let isStem = ["conv1.", "bn1.", "conv2.", "bn2.", "conv3.", "bn3."].contains { k.hasPrefix($0) }
            checkpoint["visual." + (isStem ? "stem." + k : k)] = t
        }
        checkpoint["transformer.resblocks.0.ln_1.weight"] = Tensor(zeros: [8])
        let report = try loadEncoderWeights(checkpoint, into: unet.encoder, prefix: "visual.", rename: [("stem.", "")])
        XCTAssertEqual(report.missing, [])
        XCTAssertEqual(report.unexpected, ["attnpool.c_proj.bias", "attnpool.c_proj.weight", "attnpool.k_proj.bias",
                                           "attnpool.k_proj.weight", "attnpool.positional_embedding",
                                           "attnpool.q_proj.bias", "attnpool.q_proj.weight", "attnpool.v_proj.bias",
                                           "attnpool.v_proj.weight"])
        XCTAssertEqual(report.skipped, 1)
        let source = visual.stateDict()
        for (k, t) in unet.encoder.stateDict() { XCTAssertTrue(Self.sameValues(t, source[k]!), k) }
    }

    // MARK: Helpers

    /// mosmos_encoders.py's `formula`: parameter k in sorted-name order, element i, t = sin(0.37 i + 1.3 k + 0.5);
    /// rank-1 weights 1 + 0.1 t, biases 0.05 t, other tensors t / sqrt(fan_in).
    static func formulaInit(_ m: Module) {
        for (k, (name, p)) in m.namedParameters().sorted(by: { $0.0 < $1.0 }).enumerated() {
            let fanIn = Double(p.shape.dropFirst().reduce(1, *))
            for i in 0..<p.count {
                let t = sin(0.37 * Double(i) + 1.3 * Double(k) + 0.5)
                let v = p.rank == 1 ? (name.hasSuffix("weight") ? 1 + 0.1 * t : 0.05 * t) : t / fanIn.squareRoot()
                p.ptr[i] = Float(v)
            }
        }
    }

    /// The script's probe: sum, sum of squares, values at n/7, n/3, n/2, n−1; float32 against float64.
    static func assertProbe(_ t: Tensor, _ sum: Double, _ squares: Double, _ picks: [Double], _ what: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        let a = t.array.map(Double.init)
        let n = a.count
        XCTAssertEqual(a.reduce(0, +), sum, accuracy: 2e-5 * max(abs(sum), 1), "\(what): sum", file: file, line: line)
        XCTAssertEqual(a.reduce(0) { $0 + $1 * $1 }, squares, accuracy: 2e-5 * squares, "\(what): sum of squares", file: file, line: line)
        for (i, ref) in zip([n / 7, n / 3, n / 2, n - 1], picks) {
            XCTAssertEqual(a[i], ref, accuracy: 2e-5, "\(what): value \(i)", file: file, line: line)
        }
    }

    static func sameValues(_ a: Tensor, _ b: Tensor) -> Bool {
        a.count == b.count && memcmp(a.ptr, b.ptr, a.count * MemoryLayout<Float>.size) == 0
    }

    static func assertClose(_ a: [Float], _ b: [Float], _ tol: Float, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        for (i, (x, y)) in zip(a, b).enumerated() where abs(x - y) > tol {
            XCTFail("element \(i): \(x) vs \(y)", file: file, line: line)
            return
        }
    }
}
