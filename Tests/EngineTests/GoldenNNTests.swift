import XCTest
import Foundation
@testable import Engine
import NN

// Layers, losses, optimisers and schedules against PyTorch (fixtures from scripts/golden/nn_fixtures.py).
// Layer cases: forward output, then backward of sum(output · r) compared with torch's input and parameter grads.

/// Copies the fixture's weights into `parameters` (name → the layer's tensor), runs forward on "x" and backward
/// with "r", and compares output and every "grad.<name>" present.
private func checkLayer(_ c: FixtureCase, _ forward: (Tensor) -> Tensor, parameters: [String: Tensor?] = [:],
                        atol: Float = 1e-4, rtol: Float = 1e-4, file: StaticString = #filePath, line: UInt = #line) {
    for (name, p) in parameters {
        guard let p else { XCTAssertFalse(c.has(name), "\(c.label): layer lacks \(name)", file: file, line: line); continue }
        let v = c.tensor(name)
        XCTAssertEqual(p.shape, v.shape, "\(c.label): \(name) shape", file: file, line: line)
        p.copy(from: v)
        p.zeroGrad()
    }
    let x = c.tensor("x", requiresGrad: true)
    let y = forward(x)
    assertClose(y, c.tensor("output"), atol: atol, rtol: rtol, "\(c.label) output", file: file, line: line)
    y.backward(c.tensor("r"))
    assertClose(x.grad ?? Tensor(zeros: x.shape), c.tensor("grad.x"), atol: atol, rtol: rtol, "\(c.label) grad.x", file: file, line: line)
    for (name, p) in parameters {
        guard let p, c.has("grad.\(name)") else { continue }
        assertClose(p.grad ?? Tensor(zeros: p.shape), c.tensor("grad.\(name)"), atol: atol, rtol: rtol,
                    "\(c.label) grad.\(name)", file: file, line: line)
    }
}

final class GoldenConvolutionTests: XCTestCase {
    /// Both paths against PyTorch: oneDNN (groups-1 2D/3D where it has a fast kernel) and the engine's own kernels.
    func testConvolutions() {
        checkConvolutions("conv")
        let saved = DNNLConvolution.enabled
        DNNLConvolution.enabled = false
        defer { DNNLConvolution.enabled = saved }
        checkConvolutions("conv")
        checkConvolutions("conv3d_kernels")
    }

    /// Groups-1 3D convolutions, which run on oneDNN on CPUs with AVX2 or AVX-512 (`DNNLConvolution`): forward and
    /// both gradients against PyTorch, strides 1 and 2, odd and anisotropic sizes, blocked and plain channel counts.
    func testConv3dKernelsMatchPyTorch() {
        checkConvolutions("conv3d_kernels")
        let f = Fixture.load("conv3d_kernels")
        if CPUInfo.current.avx2 {
            for name in f.caseNames {
                let c = f.case(name), x = c.tensor("x"), w = c.tensor("weight")
                XCTAssertNotNil(DNNLConvolution.plan(x: x.shape, w: w.shape, stride: c.ints("stride"), padding: c.ints("padding"),
                                                     dilation: c.ints("dilation"), groups: 1, bias: c.bool("has_bias")),
                                "\(name) should run on oneDNN on this CPU")
            }
        }
    }

    func checkConvolutions(_ fixture: String) {
        let f = Fixture.load(fixture)
        for name in f.caseNames {
            let c = f.case(name)
            let w = c.tensor("weight")
            let (cout, cin) = (w.shape[0], w.shape[1] * c.int("groups"))
            let kernel = Array(w.shape.dropFirst(2))
            let layer: ConvolutionLayer
            switch kernel.count {
            case 1:
                layer = Conv1d(cin, cout, kernelSize: kernel[0], stride: c.ints("stride")[0], padding: c.ints("padding")[0],
                               dilation: c.ints("dilation")[0], groups: c.int("groups"), bias: c.bool("has_bias"))
            case 2:
                layer = Conv2d(cin, cout, kernelSize: kernel, stride: c.ints("stride"), padding: c.ints("padding"),
                               dilation: c.ints("dilation"), groups: c.int("groups"), bias: c.bool("has_bias"))
            default:
                layer = Conv3d(cin, cout, kernelSize: kernel, stride: c.ints("stride"), padding: c.ints("padding"),
                               dilation: c.ints("dilation"), groups: c.int("groups"), bias: c.bool("has_bias"))
            }
            checkLayer(c, layer.forward, parameters: ["weight": layer.weight, "bias": layer.bias])
        }
    }

    /// Both paths against PyTorch; groups-1 3D transposed convolutions (`conv_transpose3d_kernels`) run on oneDNN's
    /// convolution kernels on CPUs with AVX2 or AVX-512.
    func testTransposedConvolutions() {
        if CPUInfo.current.avx2 {
            let f = Fixture.load("conv_transpose3d_kernels")
            for name in f.caseNames {
                let c = f.case(name), x = c.tensor("x"), w = c.tensor("weight"), y = c.tensor("output")
                XCTAssertNotNil(DNNLConvolution.plan(x: y.shape, w: w.shape, stride: c.ints("stride"), padding: c.ints("padding"),
                                                     dilation: c.ints("dilation"), groups: 1, bias: false),
                                "\(name) (input \(x.shape)) should run on oneDNN on this CPU")
            }
        }
        for engineOnly in [false, true] {
            let saved = DNNLConvolution.enabled
            DNNLConvolution.enabled = !engineOnly
            defer { DNNLConvolution.enabled = saved }
            checkTransposedConvolutions("conv_transpose")
            checkTransposedConvolutions("conv_transpose3d_kernels")
        }
    }

    func checkTransposedConvolutions(_ fixture: String) {
        let f = Fixture.load(fixture)
        for name in f.caseNames {
            let c = f.case(name)
            let w = c.tensor("weight")
            let (cin, cout) = (w.shape[0], w.shape[1] * c.int("groups"))
            let kernel = Array(w.shape.dropFirst(2))
            let layer: ConvolutionLayer = kernel.count == 2
                ? ConvTranspose2d(cin, cout, kernelSize: kernel, stride: c.ints("stride"), padding: c.ints("padding"),
                                  outputPadding: c.ints("output_padding"), dilation: c.ints("dilation"),
                                  groups: c.int("groups"), bias: c.bool("has_bias"))
                : ConvTranspose3d(cin, cout, kernelSize: kernel, stride: c.ints("stride"), padding: c.ints("padding"),
                                  outputPadding: c.ints("output_padding"), dilation: c.ints("dilation"),
                                  groups: c.int("groups"), bias: c.bool("has_bias"))
            checkLayer(c, layer.forward, parameters: ["weight": layer.weight, "bias": layer.bias])
        }
    }

    /// PyTorch's default init: U(±1/√fan_in) with fan_in from weight.shape[1].
    func testDefaultInitialisationBounds() {
        let conv = Conv2d(6, 8, kernelSize: 3, groups: 2)
        let up = ConvTranspose2d(8, 4, kernelSize: 2, stride: 2)
        conv.initialize(seed: 3)
        up.initialize(seed: 3)
        XCTAssertEqual(conv.weight.shape, [8, 3, 3, 3])
        XCTAssertEqual(up.weight.shape, [8, 4, 2, 2])
        let convBound = 1 / Float(27).squareRoot(), upBound = 1 / Float(16).squareRoot()
        XCTAssertLessThanOrEqual(conv.weight.array.map { abs($0) }.max()!, convBound)
        XCTAssertGreaterThan(conv.weight.array.map { abs($0) }.max()!, 0.9 * convBound)
        XCTAssertLessThanOrEqual(up.weight.array.map { abs($0) }.max()!, upBound)
        XCTAssertLessThanOrEqual(up.bias!.array.map { abs($0) }.max()!, upBound)
        XCTAssertEqual(conv.namedParameters().map { $0.0 }, ["weight", "bias"])
    }
}

final class GoldenPoolingTests: XCTestCase {
    func testPooling() {
        for file in ["pool", "pool_ceil"] {
            let f = Fixture.load(file)
            for name in f.caseNames {
                let c = f.case(name)
                let rank = c.tensor("x").rank
                let ceil = c.has("ceil_mode") && c.bool("ceil_mode")
                let layer: Layer
                if name.hasPrefix("adaptive") {
                    layer = rank == 4 ? AdaptiveAvgPool2d(c.ints("output_size")) : AdaptiveAvgPool3d(c.ints("output_size"))
                } else if name.hasPrefix("maxpool") {
                    layer = rank == 4
                        ? MaxPool2d(kernelSize: c.ints("kernel_size"), stride: c.ints("stride"), padding: c.ints("padding"),
                                    ceilMode: ceil)
                        : MaxPool3d(kernelSize: c.ints("kernel_size"), stride: c.ints("stride"), padding: c.ints("padding"),
                                    ceilMode: ceil)
                } else {
                    let include = c.bool("count_include_pad")
                    layer = rank == 4
                        ? AvgPool2d(kernelSize: c.ints("kernel_size"), stride: c.ints("stride"), padding: c.ints("padding"),
                                    countIncludePad: include, ceilMode: ceil)
                        : AvgPool3d(kernelSize: c.ints("kernel_size"), stride: c.ints("stride"), padding: c.ints("padding"),
                                    countIncludePad: include, ceilMode: ceil)
                }
                checkLayer(c, layer.forward)
            }
        }
    }

    func testInterpolation() {
        let f = Fixture.load("interpolate")
        for name in f.caseNames {
            let c = f.case(name)
            let mode: InterpolationMode = c.string("mode") == "nearest" ? .nearest : .linear
            let layer = c.has("size")
                ? Upsample(size: c.ints("size"), mode: mode, alignCorners: c.bool("align_corners"))
                : Upsample(scaleFactor: c.double("scale_factor"), mode: mode, alignCorners: c.bool("align_corners"))
            checkLayer(c, layer.forward)
        }
    }
}

final class GoldenNormalizationTests: XCTestCase {
    func testLayerNorm() {
        let f = Fixture.load("norm")
        for name in ["layernorm_last", "layernorm_two_dims"] {
            let c = f.case(name)
            let ln = LayerNorm(c.ints("normalized_shape"))
            checkLayer(c, ln.forward, parameters: ["weight": ln.weight, "bias": ln.bias])
        }
    }

    private func batchNorm(rank: Int, channels: Int, fusedReLU: Bool) -> BatchNorm {
        switch rank {
        case 2, 3: return BatchNorm1d(channels, fusedReLU: fusedReLU)
        case 4: return BatchNorm2d(channels, fusedReLU: fusedReLU)
        default: return BatchNorm3d(channels, fusedReLU: fusedReLU)
        }
    }

    func testBatchNormTraining() {
        let f = Fixture.load("norm")
        for name in f.caseNames where name.hasPrefix("batchnorm") && name.contains("train") {
            let c = f.case(name)
            let x = c.tensor("x")
            // The ReLU case is checked fused and as a separate layer.
            for fused in c.bool("relu") ? [true, false] : [false] {
                let bn = batchNorm(rank: x.rank, channels: x.shape[1], fusedReLU: fused)
                bn.train()
                for s in 0..<(c.int("steps") - 1) { _ = bn(c.tensor("x\(s)")) }
                let forward: (Tensor) -> Tensor = c.bool("relu") && !fused ? { bn($0).relu() } : { bn($0) }
                checkLayer(c, forward, parameters: ["weight": bn.weight, "bias": bn.bias], atol: 2e-4, rtol: 2e-4)
                assertClose(bn.running_mean!.value, c.tensor("running_mean"), "\(name) running_mean")
                assertClose(bn.running_var!.value, c.tensor("running_var"), "\(name) running_var")
                XCTAssertEqual(bn.num_batches_tracked!.value.item, c.scalar("num_batches_tracked"), name)
            }
        }
    }

    func testBatchNormEvaluation() {
        let c = Fixture.load("norm").case("batchnorm2d_eval")
        let bn = BatchNorm2d(c.tensor("x").shape[1])
        bn.running_mean!.value.copy(from: c.tensor("running_mean"))
        bn.running_var!.value.copy(from: c.tensor("running_var"))
        bn.eval()
        checkLayer(c, bn.forward, parameters: ["weight": bn.weight, "bias": bn.bias])
        XCTAssertEqual(bn.num_batches_tracked!.value.item, 0, "evaluation must not count batches")
        assertClose(bn.running_mean!.value, c.tensor("running_mean"), "evaluation must not move the running mean")
    }

    func testBatchNormStateDictNames() {
        let names = Set(BatchNorm2d(3).stateDict().keys)
        XCTAssertEqual(names, ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"])
    }

    func testGroupAndInstanceNorm() {
        let f = Fixture.load("norm")
        for name in f.caseNames where name.hasPrefix("groupnorm") || name.hasPrefix("instancenorm") {
            let c = f.case(name)
            let x = c.tensor("x")
            let layer: Layer
            if name.hasPrefix("groupnorm") {
                layer = GroupNorm(c.int("groups"), x.shape[1], affine: c.bool("affine"))
            } else {
                layer = x.rank == 4 ? InstanceNorm2d(x.shape[1], affine: c.bool("affine"))
                                    : InstanceNorm3d(x.shape[1], affine: c.bool("affine"))
            }
            let params = layer.namedParameters()
            checkLayer(c, layer.forward, parameters: Dictionary(uniqueKeysWithValues: params.map { ($0.0, Optional($0.1)) }),
                       atol: 2e-4, rtol: 2e-4)
            XCTAssertEqual(params.count, c.bool("affine") ? 2 : 0, name)
        }
    }

    func testActivations() {
        let f = Fixture.load("activation")
        checkLayer(f.case("gelu_exact"), GELU().forward)
        checkLayer(f.case("gelu_tanh"), GELU(tanhApproximation: true).forward)
        checkLayer(f.case("silu"), SiLU().forward)
    }
}

final class GoldenLossTests: XCTestCase {
    /// Compares the scalar loss and the gradient of every named input.
    private func check(_ c: FixtureCase, inputs: [String], atol: Float = 1e-5, rtol: Float = 1e-4,
                       file: StaticString = #filePath, line: UInt = #line, _ loss: ([String: Tensor]) -> Tensor) {
        var leaves: [String: Tensor] = [:]
        for n in inputs { leaves[n] = c.tensor(n, requiresGrad: true) }
        let l = loss(leaves)
        XCTAssertEqual(l.count, 1, file: file, line: line)
        assertClose(l.item, c.scalar("loss"), atol: atol, rtol: rtol, "\(c.label) loss", file: file, line: line)
        l.backward()
        for n in inputs {
            assertClose(leaves[n]!.grad ?? Tensor(zeros: leaves[n]!.shape), c.tensor("grad.\(n)").reshaped(leaves[n]!.shape),
                        atol: atol, rtol: rtol, "\(c.label) grad.\(n)", file: file, line: line)
        }
    }

    let f = Fixture.load("loss")

    func testBinaryCrossEntropy() {
        var c = f.case("bce_logits")
        check(c, inputs: ["logits"]) { Loss.bceWithLogits($0["logits"]!, c.tensor("targets")) }
        c = f.case("bce_logits_pos_weight")
        check(c, inputs: ["logits"]) { Loss.bceWithLogits($0["logits"]!, c.tensor("targets"), posWeight: c.tensor("pos_weight")) }
        c = f.case("bce_logits_sum")
        check(c, inputs: ["logits"]) { Loss.bceWithLogits($0["logits"]!, c.tensor("targets"), reduction: .sum) }
        c = f.case("bce_logits_extreme")
        check(c, inputs: ["logits"]) { Loss.bceWithLogits($0["logits"]!, c.tensor("targets")) }
    }

    func testCrossEntropy() {
        var c = f.case("ce_basic")
        check(c, inputs: ["logits"]) { Loss.crossEntropy($0["logits"]!, c.indices("targets")) }
        c = f.case("ce_weighted_ignore")
        check(c, inputs: ["logits"]) {
            Loss.crossEntropy($0["logits"]!, c.indices("targets"), weight: c.tensor("weight").array, ignoreIndex: c.int("ignore_index"))
        }
        c = f.case("ce_sum")
        check(c, inputs: ["logits"]) { Loss.crossEntropy($0["logits"]!, c.indices("targets"), reduction: .sum) }
    }

    func testCrossEntropyLabelSmoothing() {
        let f = Fixture.load("loss_smoothing")
        var c = f.case("ce_smoothing_weighted_ignore")
        check(c, inputs: ["logits"]) {
            Loss.crossEntropy($0["logits"]!, c.indices("targets"), weight: c.tensor("weight").array,
                              ignoreIndex: c.int("ignore_index"), labelSmoothing: c.scalar("label_smoothing"))
        }
        c = f.case("ce_smoothing_sum")
        check(c, inputs: ["logits"]) {
            Loss.crossEntropy($0["logits"]!, c.indices("targets"), reduction: .sum, labelSmoothing: c.scalar("label_smoothing"))
        }
    }

    func testCrossEntropyAllIgnoredIsNaNAsInPyTorch() {
        let l = Loss.crossEntropy(Tensor(zeros: [2, 3]), [-100, -100])
        XCTAssertTrue(l.item.isNaN)
    }

    func testDice() {
        var c = f.case("dice_binary")
        check(c, inputs: ["logits"]) { Loss.softDice($0["logits"]!, c.tensor("targets"), activation: .sigmoid, smooth: c.scalar("smooth")) }
        c = f.case("dice_binary_smooth1_batch")
        check(c, inputs: ["logits"]) {
            Loss.softDice($0["logits"]!, c.tensor("targets"), activation: .sigmoid, smooth: 1, batchDice: true)
        }
        for name in ["dice_softmax", "dice_softmax_nobg"] {
            let c = f.case(name)
            let labels = c.indices("labels"), logits = c.tensor("logits")
            let oneHot = Loss.oneHot(labels, classes: logits.shape[1], shape: [logits.shape[0]] + Array(logits.shape.dropFirst(2)))
            assertClose(oneHot, c.tensor("targets"), "\(name) one-hot")
            check(c, inputs: ["logits"]) {
                Loss.softDice($0["logits"]!, oneHot, activation: .softmax, includeBackground: c.bool("include_background"))
            }
        }
    }

    func testDiceCrossEntropyWithIgnoredPositions() {
        let c = f.case("dice_ce_ignore")
        check(c, inputs: ["logits"]) { Loss.diceCE($0["logits"]!, c.indices("labels")) }
    }

    func testInfoNCE() {
        let c = f.case("infonce")
        check(c, inputs: ["image", "text", "log_scale"]) { Loss.infoNCE($0["image"]!, $0["text"]!, logScale: $0["log_scale"]!) }
        // The module starts from τ = 0.07, the value this case uses.
        let module = InfoNCELoss()
        assertClose(module(c.tensor("image"), c.tensor("text")).item, c.scalar("loss"), "InfoNCELoss at its initial temperature")
        XCTAssertEqual(module.namedParameters().map { $0.0 }, ["logit_scale"])
    }

    func testSigmoidContrastive() {
        for name in ["siglip_init", "siglip_trained"] {
            let c = f.case(name)
            check(c, inputs: ["image", "text", "log_scale", "bias"]) {
                Loss.sigmoidContrastive($0["image"]!, $0["text"]!, logScale: $0["log_scale"]!, bias: $0["bias"]!)
            }
        }
        let c = f.case("siglip_init")
        let module = SigmoidContrastiveLoss()
        assertClose(module(c.tensor("image"), c.tensor("text")).item, c.scalar("loss"), "SigLIP module at its initial values")
    }

    func testWeakAssumeNegative() {
        var c = f.case("wan_default")
        check(c, inputs: ["logits"]) { Loss.weakAssumeNegative($0["logits"]!, c.tensor("targets")) }
        c = f.case("wan_gamma")
        check(c, inputs: ["logits"]) { Loss.weakAssumeNegative($0["logits"]!, c.tensor("targets"), gamma: c.scalar("gamma")) }
    }

    func testRegression() {
        var c = f.case("mse")
        check(c, inputs: ["input"]) { Loss.mse($0["input"]!, c.tensor("target")) }
        c = f.case("l1")
        check(c, inputs: ["input"]) { Loss.l1($0["input"]!, c.tensor("target")) }
    }
}

final class GoldenOptimizerTests: XCTestCase {
    let f = Fixture.load("optim")

    private func run(_ name: String, _ make: ([Tensor]) -> Optimizer) {
        let c = f.case(name)
        let p = c.tensor("p", requiresGrad: true), q = c.tensor("q", requiresGrad: true)
        let opt = make([p, q])
        for s in 0..<c.int("steps") {
            p.grad = c.tensor("grad_p\(s)")
            q.grad = c.tensor("grad_q\(s)")
            opt.step()
            assertClose(p, c.tensor("p_after\(s)"), atol: 2e-6, rtol: 1e-5, "\(name) p after step \(s)")
            assertClose(q, c.tensor("q_after\(s)"), atol: 2e-6, rtol: 1e-5, "\(name) q after step \(s)")
        }
        opt.zeroGrad()
        XCTAssertNil(p.grad)
    }

    func testAdam() {
        run("adam") { Adam($0, lr: 1e-2, betas: (0.9, 0.999), eps: 1e-8, weightDecay: 0.1) }
        run("adam_betas") { Adam($0, lr: 3e-3, betas: (0.8, 0.99), eps: 1e-6) }
    }

    func testAdamW() {
        run("adamw") { AdamW($0, lr: 1e-2, betas: (0.9, 0.999), eps: 1e-8, weightDecay: 0.05) }
    }

    func testSGD() {
        run("sgd_momentum") { SGD($0, lr: 0.1, momentum: 0.9, weightDecay: 1e-3) }
        run("sgd_nesterov") { SGD($0, lr: 0.05, momentum: 0.9, weightDecay: 1e-2, nesterov: true) }
        run("sgd_dampening") { SGD($0, lr: 0.1, momentum: 0.5, dampening: 0.3) }
        run("sgd_plain") { SGD($0, lr: 0.1) }
    }

    func testClipGradNorm() {
        let c = f.case("clip_grad_norm")
        let p = Tensor(zeros: c.tensor("grad_p").shape, requiresGrad: true), q = Tensor(zeros: c.tensor("grad_q").shape, requiresGrad: true)
        p.grad = c.tensor("grad_p"); q.grad = c.tensor("grad_q")
        let norm = clipGradNorm([p, q], maxNorm: c.scalar("max_norm"))
        assertClose(norm, c.scalar("norm"), "total norm")
        assertClose(p.grad!, c.tensor("clipped_p"), "clipped p")
        assertClose(q.grad!, c.tensor("clipped_q"), "clipped q")
    }

    /// Resuming from a saved state continues exactly where an uninterrupted run would be.
    func testAdamStateRoundTrip() {
        let c = f.case("adamw")
        let p = c.tensor("p", requiresGrad: true), q = c.tensor("q", requiresGrad: true)
        let first = AdamW([p, q], lr: 1e-2, weightDecay: 0.05)
        p.grad = c.tensor("grad_p0"); q.grad = c.tensor("grad_q0")
        first.step()
        let resumed = AdamW([p, q], lr: 1e-2, weightDecay: 0.05)
        XCTAssertNoThrow(try resumed.loadStateDict(first.stateDict()))
        for s in 1..<3 {
            p.grad = c.tensor("grad_p\(s)"); q.grad = c.tensor("grad_q\(s)")
            resumed.step()
        }
        assertClose(p, c.tensor("p_after2"), atol: 2e-6, rtol: 1e-5, "resumed AdamW")
    }
}

final class GoldenScheduleTests: XCTestCase {
    func testSchedulesMatchTorch() {
        let f = Fixture.load("schedule")
        let schedules: [String: LRSchedule] = [
            "cosine": .cosine(total: 10, minLR: 1e-4),
            "warmup_cosine": .warmupCosine(warmup: 5, total: 20, warmupStartLR: 0.001, minLR: 1e-5),
            "restarts_tmult2": .cosineRestarts(t0: 3, tMult: 2, minLR: 1e-3),
            "restarts_tmult1": .cosineRestarts(t0: 4, tMult: 1, minLR: 0),
            "step": .step(size: 4, gamma: 0.5),
            "poly": .polynomial(total: 10, power: 0.9),
        ]
        XCTAssertEqual(Set(schedules.keys), Set(f.caseNames))
        for (name, schedule) in schedules {
            let c = f.case(name)
            let expected = c.tensor("lr").array
            let got = (0..<expected.count).map { schedule.lr(base: c.scalar("base"), step: $0) }
            assertClose(Tensor(got, shape: [got.count]), Tensor(expected, shape: [expected.count]), atol: 1e-8, rtol: 1e-5, name)
        }
    }
}

final class GoldenSafetensorsTests: XCTestCase {
    func testReadsEveryFloatTypeWrittenByPython() throws {
        let file = try SafetensorsFile(contentsOf: Fixture.url("mixed.safetensors"))
        let expected = Fixture.load("safetensors").case("mixed")
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "golden"])
        XCTAssertEqual(file.names, ["brain", "half", "layer.weight", "position_ids"])
        XCTAssertEqual(file.entries["half"]?.dtype, "F16")
        XCTAssertEqual(file.entries["brain"]?.dtype, "BF16")
        for name in file.names {
            assertClose(try file.tensor(name), expected.tensor(name), atol: 0, rtol: 1e-7, name)
        }
    }

    func testWriteThenReadRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nn-safetensors-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = Sequential([Conv2d(2, 3, kernelSize: 3), BatchNorm2d(3), ReLU(), Conv2d(3, 1, kernelSize: 1)])
        model.initialize(seed: 11)
        let url = dir.appendingPathComponent("model.safetensors")
        try model.save(safetensors: url, metadata: ["epoch": "3"])
        let other = Sequential([Conv2d(2, 3, kernelSize: 3), BatchNorm2d(3), ReLU(), Conv2d(3, 1, kernelSize: 1)])
        other.initialize(seed: 12)
        let result = try other.load(safetensors: url)
        XCTAssertEqual(result.missing, [])
        XCTAssertEqual(result.unexpected, [])
        let a = model.stateDict(), b = other.stateDict()
        XCTAssertEqual(Set(a.keys), ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "layers.1.running_mean",
                                     "layers.1.running_var", "layers.1.num_batches_tracked", "layers.3.weight", "layers.3.bias"])
        for (k, t) in a { XCTAssertEqual(t.array, b[k]!.array, k) }
        XCTAssertEqual(try SafetensorsFile(contentsOf: url).metadata, ["epoch": "3"])
        // The data section starts 8-byte aligned.
        let bytes = try Data(contentsOf: url)
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
        XCTAssertEqual(headerLength % 8, 0)
    }

    func testStrictLoadReportsMismatchedNamesAndRenameSkips() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nn-safetensors-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("w.safetensors")
        try Safetensors.write(["encoder.weight": Tensor(filled: 2, shape: [3, 4]), "encoder.bias": Tensor(zeros: [3]),
                               "head.weight": Tensor(zeros: [1])], to: url)
        let layer = Linear(4, 3)
        XCTAssertThrowsError(try layer.load(safetensors: url))
        let result = try layer.load(safetensors: url) { name in
            name.hasPrefix("encoder.") ? String(name.dropFirst("encoder.".count)) : nil
        }
        XCTAssertEqual(result.unexpected, [])
        XCTAssertEqual(layer.weight.array, [Float](repeating: 2, count: 12))
    }

    func testTruncatedAndCorruptFilesNameTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nn-safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try Data(contentsOf: Fixture.url("mixed.safetensors"))
        let cases: [(String, Data)] = [
            ("short.safetensors", good.prefix(5)),
            ("cut-header.safetensors", good.prefix(40)),
            ("cut-data.safetensors", good.prefix(good.count - 3)),
            ("garbage.safetensors", { var d = good; d.replaceSubrange(8..<12, with: [0x7b, 0x7b, 0x7b, 0x7b]); return d }()),
        ]
        for (name, data) in cases {
            let url = dir.appendingPathComponent(name)
            try data.write(to: url)
            XCTAssertThrowsError(try SafetensorsFile(contentsOf: url), name) { error in
                XCTAssertTrue("\(error)".contains(name), "error should name the file: \(error)")
            }
        }
        XCTAssertThrowsError(try SafetensorsFile(contentsOf: Fixture.url("mixed.safetensors")).tensor("absent"))
    }
}
