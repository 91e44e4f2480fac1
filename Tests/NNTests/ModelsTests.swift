import XCTest
import Engine
import NN
@testable import Models

/// Shapes, gradients, parameter counts and a small convergence run for the image-only segmenters of TMC's
/// Table 1. Everything runs at smoke scale except the parameter counts, which build (but never run) the paper
/// configurations.
final class ModelsTests: XCTestCase {
    private func randomImages(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = RNG(seed: seed)
        return Tensor.randn(shape, rng: &rng)
    }

    private func model(_ name: String, scale: Scale = .smoke, inChannels: Int = 1, imageSize: Int = 32) -> SegmentationModel {
        do {
            let m = try ModelRegistry.make(name: name, scale: scale, inChannels: inChannels, imageSize: imageSize)
            m.initialize(seed: 7)
            return m
        } catch { XCTFail("\(error)"); fatalError() }
    }

    // MARK: Forward

    func testEveryModelMapsAnImageToOneLogitPerPixelAtSmokeScale() {
        let x = randomImages([2, 1, 32, 32], seed: 1)
        for name in ModelRegistry.imageOnly.map(\.name) {
            let m = model(name)
            for training in [true, false] {
                m.train(training)
                let out = m(x)
                XCTAssertEqual(out.logits.shape, [2, 1, 32, 32], "\(name) training=\(training)")
                XCTAssertFalse(out.logits.hasNonFinite, name)
            }
        }
    }

    func testRGBInputIsAcceptedByEveryModel() {
        let x = randomImages([1, 3, 32, 32], seed: 2)
        for name in ModelRegistry.imageOnly.map(\.name) {
            let m = model(name, inChannels: 3)
            m.eval()
            XCTAssertEqual(m(x).logits.shape, [1, 1, 32, 32], name)
        }
    }

    func testScaleBuildsFor64PixelImages() {
        let x = randomImages([1, 1, 64, 64], seed: 3)
        for name in ModelRegistry.imageOnly.map(\.name) {
            let m = model(name, scale: .proxy, imageSize: 64)
            m.eval()
            XCTAssertEqual(m(x).logits.shape, [1, 1, 64, 64], name)
        }
    }

    // MARK: Backward

    /// Parameters whose gradient is zero in exact arithmetic: a convolution bias directly followed by BatchNorm
    /// (training) or InstanceNorm is removed again by the mean subtraction.
    private func biasesCancelledByNormalisation(_ m: Module) -> Set<String> {
        var names = Set<String>()
        for (name, module) in m.namedModules() {
            guard let block = module as? ConvNormAct, block.conv.bias != nil,
                  block.norm is BatchNorm || block.norm is InstanceNorm else { continue }
            names.insert(name.isEmpty ? "conv.bias" : "\(name).conv.bias")
        }
        return names
    }

    func testBackwardGivesEveryTrainableParameterAFiniteNonZeroGradient() {
        let x = randomImages([2, 1, 32, 32], seed: 4)
        let target = x.greater(0.5)
        for name in ModelRegistry.imageOnly.map(\.name) {
            let m = model(name)
            m.train()
            let out = m(x)
            let loss = out.segmentationLoss(target: target) { Loss.bceWithLogits($0, $1) }
            loss.backward()
            let cancelled = biasesCancelledByNormalisation(m)
            // nnU-Net gives its lowest-resolution head weight 0 (the reference does the same), so it learns nothing.
            let unused: Set<String> = (m as? NNUNet).map { n in
                Set(n.plan.deepSupervisionWeights.enumerated().filter { $0.element == 0 }.flatMap { i, _ -> [String] in
                    let j = n.plan.stages - 2 - i
                    return ["seg_layers.\(j).weight", "seg_layers.\(j).bias"]
                })
            } ?? []
            var checked = 0
            for (p, t) in m.namedParameters() where t.requiresGrad {
                let g = t.grad
                if unused.contains(p) {
                    XCTAssertEqual(g.map { $0.array.map(abs).max()! } ?? 0, 0, "\(name).\(p) should be unused")
                    continue
                }
                guard let g else { XCTFail("\(name).\(p) has no gradient"); continue }
                XCTAssertFalse(g.hasNonFinite, "\(name).\(p)")
                let size = g.array.map(abs).max()!
                if cancelled.contains(p) {
                    XCTAssertLessThan(size, 1e-3, "\(name).\(p) feeds a normalisation and should get ~0")
                } else {
                    XCTAssertGreaterThan(size, 0, "\(name).\(p) got an all-zero gradient")
                    checked += 1
                }
            }
            XCTAssertGreaterThan(checked, 10, name)
        }
    }

    // MARK: Parameter counts at paper scale

    /// Counts of the reference PyTorch implementations, measured by instantiating them (3 input channels,
    /// 1 output, 224 × 224): milesial UNet(3, 1, bilinear=False); LViT/UCTransNet nets/UNet.py UNet(3, 1);
    /// LeeJunHyun AttU_Net(3, 1); 4uiiurz1 NestedUNet(1, 3) with and without deep supervision; nnU-Net v2's
    /// PlainConvUNet as its planner configures it for 224² (6 stages, 32…512); Beckschen TransUNet
    /// R50-ViT-B/16 with n_classes 1; McGregorWwww UCTransNet with its default config. Published round figures:
    /// UNet 31.0M, TransUNet 105M, UCTransNet 66.4M (UCTransNet's paper table prints 65.6M and 14.8M for its U-Net).
    func testPaperScaleParameterCountsMatchTheReferenceImplementations() {
        XCTAssertEqual(UNet(config: .of(.paper), inChannels: 3).parameterCount, 31_037_633)
        XCTAssertEqual(UNet(config: UNetConfig(base: 64, style: .lvit), inChannels: 3).parameterCount, 14_751_873)
        XCTAssertEqual(AttentionUNet(config: .of(.paper), inChannels: 3).parameterCount, 34_878_573)
        XCTAssertEqual(UNetPlusPlus(config: .of(.paper), inChannels: 3).parameterCount, 9_163_329)
        XCTAssertEqual(UNetPlusPlus(config: UNetPlusPlusConfig(base: 32, deepSupervision: true), inChannels: 3).parameterCount,
                       9_163_428)
        XCTAssertEqual(model("nnunet", scale: .paper, inChannels: 3, imageSize: 224).parameterCount, 20_618_661)
        XCTAssertEqual(model("transunet", scale: .paper, inChannels: 3, imageSize: 224).parameterCount, 105_275_921)
        XCTAssertEqual(model("uctransnet", scale: .paper, inChannels: 3, imageSize: 224).parameterCount, 66_430_657)
    }

    func testScalesShrinkEveryModel() {
        for name in ModelRegistry.imageOnly.map(\.name) {
            let smoke = model(name, scale: .smoke, imageSize: 32).parameterCount
            let proxy = model(name, scale: .proxy, imageSize: 64).parameterCount
            XCTAssertLessThan(smoke, proxy, name)
            XCTAssertLessThan(proxy, 3_000_000, "\(name) proxy must stay small enough to train on 2 cores")
        }
    }

    // MARK: Architecture details

    func testTransUNetRepeatsGrayscaleInputLikeTheReference() {
        let gray = model("transunet", inChannels: 1).parameterCount
        let rgb = model("transunet", inChannels: 3).parameterCount
        XCTAssertEqual(gray, rgb)
    }

    func testStandardisedConvolutionIgnoresTheKernelScale() {
        let conv = StdConv2d(3, 4, kernelSize: 3, padding: 1)
        let x = randomImages([1, 3, 8, 8], seed: 5)
        let before = conv(x).array
        conv.weight.copy(from: conv.weight * 7 + 0)
        let after = conv(x).array
        // Exact up to the 1e-5 added to the kernel variance (≈0.012 here), a relative change of a few 1e-4.
        for (a, b) in zip(before, after) { XCTAssertEqual(a, b, accuracy: 2e-3 * Swift.max(1, abs(b))) }
    }

    func testAttentionGatesAndChannelAttentionAreExposed() {
        let x = randomImages([1, 1, 32, 32], seed: 6)
        let attUNet = model("attunet")
        let att = attUNet(x).attentionMaps
        XCTAssertEqual(Set(att.keys), ["gate0", "gate1", "gate2", "gate3"])
        XCTAssertEqual(att["gate0"]?.shape, [1, 1, 32, 32])
        let ucTransNet = model("uctransnet")
        let uct = ucTransNet(x).attentionMaps
        // Smoke UCTransNet: base 4, so the CCT attends over 4 + 8 + 16 + 32 = 60 channels.
        XCTAssertEqual(uct["cct0"]?.shape, [1, 4, 60])
        XCTAssertEqual(uct["cct3"]?.shape, [1, 32, 60])
        XCTAssertEqual(uct["cca0"]?.shape, [1, 4])
        let rowSums = uct["cct1"]!.sum(axis: -1).array
        for s in rowSums { XCTAssertEqual(s, 1, accuracy: 1e-4) }
    }

    func testUNetPlusPlusDeepSupervisionAveragesTheTopRow() {
        let m = UNetPlusPlus(config: UNetPlusPlusConfig(base: 4, deepSupervision: true), inChannels: 1)
        let out = m(randomImages([1, 1, 32, 32], seed: 8))
        XCTAssertEqual(out.deepSupervision.count, 4)
        XCTAssertEqual(out.deepSupervision.map(\.weight), [0.25, 0.25, 0.25, 0.25])
        XCTAssertTrue(out.deepSupervision[3].logits === out.logits)
    }

    // MARK: nnU-Net planning

    func testNNUNetPlansFiveStepsFor224Images() {
        let plan = NNUNetPlan.make(fingerprint: DatasetFingerprint(medianSize: [224, 224]), settings: .of(.paper))
        XCTAssertEqual(plan.patchSize, [224, 224])
        XCTAssertEqual(plan.poolingSteps, [5, 5])
        XCTAssertEqual(plan.features, [32, 64, 128, 256, 512, 512])
        XCTAssertEqual(plan.normalization, .zScorePerImage)
        let expected: [Float] = [8, 4, 2, 1, 0].map { $0 / 15 }
        for (w, e) in zip(plan.deepSupervisionWeights, expected) { XCTAssertEqual(w, e, accuracy: 1e-6) }
        XCTAssertEqual(plan.deepSupervisionWeights.count, 5)
    }

    func testNNUNetPlanningFollowsTheMinimumEdgeRuleAndPadsThePatch() {
        let proxy = NNUNetPlan.make(fingerprint: DatasetFingerprint(medianSize: [64, 64]), settings: .of(.proxy))
        XCTAssertEqual(proxy.poolingSteps, [4, 4])
        XCTAssertEqual(proxy.features, [8, 16, 32, 64, 128])
        // 96 × 32: the short axis stops at 4 after three steps; the long one, alone, may pool once more (12 ≥ 3·4).
        let tall = NNUNetPlan.make(fingerprint: DatasetFingerprint(medianSize: [96, 32]), settings: .of(.smoke))
        XCTAssertEqual(tall.poolingSteps, [4, 3])
        XCTAssertEqual(tall.strides.last, [2, 1])
        XCTAssertEqual(tall.patchSize, [96, 32])
        // 100 is not divisible by 2^4: nnU-Net pads the patch to 112.
        let odd = NNUNetPlan.make(fingerprint: DatasetFingerprint(medianSize: [100, 100]), settings: .of(.smoke))
        XCTAssertEqual(odd.poolingSteps, [4, 4])
        XCTAssertEqual(odd.patchSize, [112, 112])
        let net = NNUNet(plan: tall, inChannels: 1)
        let out = net(randomImages([1, 1, 96, 32], seed: 9))
        XCTAssertEqual(out.logits.shape, [1, 1, 96, 32])
        XCTAssertEqual(out.deepSupervision.map { $0.logits.shape[2] }, [96, 48, 24, 12])
    }

    func testFingerprintMeasuresForegroundIntensitiesAndMedianSize() {
        // Foreground pixels hold 0, 1, …, 99 in turn; background holds 1000 and must be ignored.
        let sizes: [[Int]] = [[16, 16], [32, 16], [32, 32]]
        let images = sizes.map { s -> Tensor in
            let values: [Float] = (0..<(s[0] * s[1])).map { i in i % 2 == 0 ? Float((i / 2) % 100) : 1000 }
            return Tensor(values, shape: [1] + s)
        }
        let masks = sizes.map { s -> Tensor in
            let values: [Float] = (0..<(s[0] * s[1])).map { i in i % 2 == 0 ? 1 : 0 }
            return Tensor(values, shape: s)
        }
        let fp = DatasetFingerprint.measure(images: images, masks: masks, modality: .ct)
        XCTAssertEqual(fp.medianSize, [32, 16])
        // 128 + 256 + 512 foreground values cycling through 0…99.
        let foreground = [128, 256, 512].flatMap { n in (0..<n).map { Float($0 % 100) } }
        let mean = foreground.reduce(0, +) / Float(foreground.count)
        XCTAssertEqual(fp.foregroundMean, mean, accuracy: 1e-3)
        let std = (foreground.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(foreground.count)).squareRoot()
        XCTAssertEqual(fp.foregroundStd, std, accuracy: 1e-3)
        XCTAssertEqual(fp.foregroundPercentile005, 0)
        XCTAssertEqual(fp.foregroundPercentile995, 99)
        let plan = NNUNetPlan.make(fingerprint: fp, settings: .of(.smoke))
        guard case let .ct(lower, upper, mean, _) = plan.normalization else { return XCTFail("CT needs CT normalisation") }
        XCTAssertEqual(lower, fp.foregroundPercentile005)
        XCTAssertEqual(upper, fp.foregroundPercentile995)
        XCTAssertEqual(mean, fp.foregroundMean)
    }

    func testNNUNetZScoresEachImage() {
        let net = NNUNet(fingerprint: DatasetFingerprint(medianSize: [32, 32]), scale: .smoke, inChannels: 1)
        let x = randomImages([2, 1, 32, 32], seed: 10) * 40 + 300
        let z = net.normalize(x)
        XCTAssertEqual(z.mean(axes: [2, 3]).array.map(abs).max()!, 0, accuracy: 1e-3)
        for v in z.variance(axes: [2, 3]).array { XCTAssertEqual(v, 1, accuracy: 1e-3) }
    }

    // MARK: Loss plumbing and registry

    func testDeepSupervisionLossResizesTargetsAndWeighsTerms() {
        let full = Tensor(zeros: [1, 1, 4, 4]), half = Tensor(zeros: [1, 1, 2, 2])
        let out = SegOutput(logits: full, deepSupervision: [DeepSupervisionTerm(logits: full, weight: 0.75),
                                                            DeepSupervisionTerm(logits: half, weight: 0.25)])
        let target = Tensor((0..<16).map { Float($0 % 4 < 2 ? 1 : 0) }, shape: [1, 1, 4, 4])
        var shapes: [[Int]] = []
        let loss = out.segmentationLoss(target: target) { l, t in
            shapes.append(t.shape)
            return t.mean() + Tensor(filled: Float(l.shape[2]), shape: [])
        }
        XCTAssertEqual(shapes, [[1, 1, 4, 4], [1, 1, 2, 2]])
        // 0.75·(0.5 + 4) + 0.25·(0.5 + 2)
        XCTAssertEqual(loss.item, 4, accuracy: 1e-6)
        XCTAssertEqual(SegOutput.resizeMaskNearest(target, height: 2, width: 2).array, [1, 0, 1, 0])
    }

    func testRegistryListsTable1RowsAndRejectsUnknownNames() {
        XCTAssertEqual(ModelRegistry.imageOnly.map(\.displayName), ["UNet", "AttUnet", "nnUNet", "TransUNet", "UCTransNet", "UNet++"])
        XCTAssertEqual(ModelRegistry.entry("unet++")?.name, "unetplusplus")
        XCTAssertEqual(ModelRegistry.entry("AttUnet")?.name, "attunet")
        XCTAssertThrowsError(try ModelRegistry.make(name: "no-such-net", scale: .smoke, inChannels: 1, imageSize: 32))
        XCTAssertTrue(try ModelRegistry.make(name: "UNet++", scale: .smoke, inChannels: 1, imageSize: 32) is UNetPlusPlus)
    }

    // MARK: Convergence

    /// Bright disks (radius 3–5) on Gaussian noise, 16 × 16.
    private func disks(_ n: Int, rng: inout RNG) -> (Tensor, Tensor) {
        let s = 16
        var image = [Float](repeating: 0, count: n * s * s), mask = image
        for b in 0..<n {
            let cx: Float = rng.uniform(5, 11), cy: Float = rng.uniform(5, 11), r: Float = rng.uniform(3, 5)
            for y in 0..<s {
                for x in 0..<s {
                    let inside = (Float(x) - cx) * (Float(x) - cx) + (Float(y) - cy) * (Float(y) - cy) <= r * r
                    let i = (b * s + y) * s + x
                    mask[i] = inside ? 1 : 0
                    image[i] = (inside ? 1 : 0) + 0.3 * (rng.normal() as Float)
                }
            }
        }
        return (Tensor(image, shape: [n, 1, s, s]), Tensor(mask, shape: [n, 1, s, s]))
    }

    func testSmallUNetLearnsBrightDisksToDiceAboveNinety() {
        let net = UNet(config: UNetConfig(base: 8, depth: 2), inChannels: 1)
        let opt = Adam(net.trainableParameters, lr: 1e-2)
        var rng = RNG(seed: 11)
        net.train()
        for _ in 0..<40 {
            let (x, y) = disks(8, rng: &rng)
            let loss = Loss.bceWithLogits(net(x).logits, y)
            opt.zeroGrad()
            loss.backward()
            opt.step()
        }
        net.eval()
        let (x, y) = disks(16, rng: &rng)
        let prediction = withoutGrad { net(x).logits.greater(0) }
        let intersection = (prediction * y).sum().item
        let dice = 2 * intersection / (prediction.sum().item + y.sum().item)
        XCTAssertGreaterThan(dice, 0.9)
    }
}
