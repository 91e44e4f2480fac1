import XCTest
import Engine
import NN

/// Attention, transformer layers and Swin against PyTorch (scripts/golden/transformer_fixtures.py), plus
/// finite-difference gradient checks at tiny sizes.
final class TransformerTests: XCTestCase {
    let fixture = Fixture.load("transformer")

    /// Copies every parameter of `module` from the fixture tensor of the same (prefixed) name.
    private func loadParameters(_ module: Module, _ c: FixtureCase, prefix: String = "") {
        for (name, p) in module.namedParameters() {
            let src = c.tensor(prefix + name)
            XCTAssertEqual(src.shape, p.shape, "\(c.label): \(name)")
            p.copy(from: src)
        }
    }

    /// Backpropagates sum(out · r) with the fixture's r.
    private func backward(_ out: Tensor, _ c: FixtureCase) { (out * c.tensor("r")).sum().backward() }

    private func assertGrad(_ t: Tensor, _ c: FixtureCase, _ key: String, atol: Float = 2e-5, rtol: Float = 2e-4,
                            file: StaticString = #filePath, line: UInt = #line) {
        guard let g = t.grad else { return XCTFail("\(key): no gradient", file: file, line: line) }
        assertClose(g, c.tensor(key), atol: atol, rtol: rtol, "\(c.label) \(key)", file: file, line: line)
    }

    // MARK: Attention against torch.nn.MultiheadAttention

    func testSelfAttentionWithPaddingMatchesTorch() {
        let c = fixture.case("attention_self")
        let mha = MultiHeadAttention(dim: 8, heads: 2)
        loadParameters(mha, c)
        let x = c.tensor("query", requiresGrad: true)
        let r = mha(x, keyPaddingMask: c.tensor("key_padding_mask"), needWeights: true)
        assertClose(r.output, c.tensor("output"), atol: 1e-5, rtol: 1e-4, "output")
        assertClose(r.weights!, c.tensor("weights"), atol: 1e-6, rtol: 1e-4, "head-averaged weights")
        // Padded keys get no weight.
        XCTAssertEqual(r.weights!.slice(axis: 0, 1, 2).slice(axis: 2, 3, 5).array.max(), 0)
        backward(r.output, c)
        assertGrad(x, c, "grad.query")
        assertGrad(mha.out_proj.weight, c, "grad.out_proj.weight")
        assertGrad(mha.q_proj.bias!, c, "grad.q_proj.bias")
        assertGrad(mha.v_proj.bias!, c, "grad.v_proj.bias")
        assertGrad(mha.k_proj.weight, c, "grad.k_proj.weight")
    }

    func testCrossAttentionWithBiasAndPaddingMatchesTorch() {
        let c = fixture.case("attention_cross")
        let mha = MultiHeadAttention(dim: 8, heads: 2, keyDim: 12)
        loadParameters(mha, c)
        let q = c.tensor("query", requiresGrad: true), m = c.tensor("memory", requiresGrad: true)
        let r = mha(q, key: m, keyPaddingMask: c.tensor("key_padding_mask"), attentionBias: c.tensor("bias"), needWeights: true)
        XCTAssertEqual(r.output.shape, [2, 5, 8])
        assertClose(r.output, c.tensor("output"), atol: 1e-5, rtol: 1e-4, "output")
        assertClose(r.weights!, c.tensor("weights"), atol: 1e-6, rtol: 1e-4, "weights")
        backward(r.output, c)
        assertGrad(q, c, "grad.query")
        assertGrad(m, c, "grad.memory")
        assertGrad(mha.k_proj.weight, c, "grad.k_proj.weight")
        assertGrad(mha.out_proj.weight, c, "grad.out_proj.weight")
        assertGrad(mha.v_proj.bias!, c, "grad.v_proj.bias")
    }

    func testFullyPaddedKeysGiveZeroWeightsNotNaN() {
        let mha = MultiHeadAttention(dim: 4, heads: 2)
        let x = randomTensor([1, 3, 4], seed: 1)
        let r = mha(x, keyPaddingMask: Tensor.ones([1, 3]), needWeights: true)
        XCTAssertFalse(r.output.hasNonFinite)
        XCTAssertEqual(r.weights!.array, [Float](repeating: 0, count: 9))
    }

    func testCausalMaskBlocksTheFuture() {
        let m = causalMask(3)
        XCTAssertEqual(m.array, [0, -.infinity, -.infinity, 0, 0, -.infinity, 0, 0, 0])
        let mha = MultiHeadAttention(dim: 4, heads: 1)
        let w = mha(randomTensor([2, 3, 4], seed: 2), attentionBias: m, needWeights: true).weights!
        XCTAssertEqual(w.ptr[0], 1, accuracy: 1e-6)   // the first query can only see itself
        XCTAssertEqual(w.ptr[1], 0)
        XCTAssertEqual(w.ptr[5], 0)
    }

    func testAttentionDropoutOnlyInTraining() {
        let mha = MultiHeadAttention(dim: 4, heads: 2, dropout: 0.5)
        let x = randomTensor([2, 6, 4], seed: 3)
        mha.eval()
        let a = mha(x).output.array, b = mha(x).output.array
        XCTAssertEqual(a, b)
        mha.train()
        XCTAssertNotEqual(mha(x).output.array, a)
    }

    func testMLPActivations() {
        let x = Tensor([-1, 0, 2], shape: [3])
        XCTAssertEqual(MLPActivation.relu(x).array, [0, 0, 2])
        // quick GELU: x·σ(1.702x); σ(3.404) = 0.967829, σ(−1.702) = 0.154204.
        let q = MLPActivation.quickGelu(x).array
        XCTAssertEqual(q[0], -0.154204, accuracy: 1e-5)
        XCTAssertEqual(q[2], 1.935659, accuracy: 1e-5)
        XCTAssertEqual(MLPActivation.gelu(x).array[2], 1.954500, accuracy: 1e-5)
    }

    // MARK: Transformer layers against torch.nn.TransformerEncoderLayer / DecoderLayer

    private func checkEncoder(_ name: String, normFirst: Bool, activation: MLPActivation) {
        let c = fixture.case(name)
        let layer = TransformerEncoderLayer(dim: 8, heads: 2, mlpDim: 16, activation: activation, normFirst: normFirst)
        loadParameters(layer, c)
        let x = c.tensor("x", requiresGrad: true)
        let y = layer(x, keyPaddingMask: c.tensor("key_padding_mask"))
        assertClose(y, c.tensor("output"), atol: 2e-5, rtol: 2e-4, "\(name) output")
        backward(y, c)
        assertGrad(x, c, "grad.x", atol: 5e-5, rtol: 5e-4)
        assertGrad(layer.linear1.weight, c, "grad.linear1.weight", atol: 5e-5, rtol: 5e-4)
        assertGrad(layer.norm1.weight!, c, "grad.norm1.weight", atol: 5e-5, rtol: 5e-4)
    }

    func testPostNormEncoderLayerMatchesTorch() { checkEncoder("encoder_postnorm_relu", normFirst: false, activation: .relu) }
    func testPreNormEncoderLayerMatchesTorch() { checkEncoder("encoder_prenorm_gelu", normFirst: true, activation: .gelu) }

    func testDecoderLayerMatchesTorch() {
        let c = fixture.case("decoder_postnorm")
        let layer = TransformerDecoderLayer(dim: 8, heads: 2, mlpDim: 16, activation: .gelu)
        loadParameters(layer, c)
        let r = layer(c.tensor("x"), memory: c.tensor("memory"), selfAttentionBias: causalMask(3),
                      memoryKeyPaddingMask: c.tensor("memory_key_padding_mask"), needWeights: true)
        assertClose(r.output, c.tensor("output"), atol: 2e-5, rtol: 2e-4, "decoder output")
        XCTAssertEqual(r.weights!.shape, [2, 3, 7])
        for row in 0..<6 { XCTAssertEqual(r.weights!.array[(row * 7)..<(row * 7 + 7)].reduce(0, +), 1, accuracy: 1e-5) }
    }

    // MARK: Swin against a reference written from the paper

    private func checkSwinBlock(_ name: String, shift: Int) {
        let c = fixture.case(name)
        let block = SwinBlock(dim: 8, resolution: (8, 12), heads: 2, window: 4, shift: shift)
        XCTAssertEqual(block.shift, shift)
        loadParameters(block, c)
        let x = c.tensor("x", requiresGrad: true)
        let y = block(x)
        assertClose(y, c.tensor("output"), atol: 2e-5, rtol: 2e-4, "\(name) output")
        backward(y, c)
        assertGrad(x, c, "grad.x", atol: 5e-5, rtol: 5e-4)
        assertGrad(block.attn.relative_position_bias_table, c, "grad.attn.relative_position_bias_table", atol: 5e-5, rtol: 5e-4)
        assertGrad(block.attn.qkv.weight, c, "grad.attn.qkv.weight", atol: 5e-5, rtol: 5e-4)
        assertGrad(block.attn.proj.bias!, c, "grad.attn.proj.bias", atol: 5e-5, rtol: 5e-4)
        assertGrad(block.norm1.weight!, c, "grad.norm1.weight", atol: 5e-5, rtol: 5e-4)
        assertGrad(block.mlp.fc1.weight, c, "grad.mlp.fc1.weight", atol: 5e-5, rtol: 5e-4)
    }

    func testShiftedSwinBlockMatchesReference() { checkSwinBlock("swin_block_shift", shift: 2) }
    func testPlainSwinBlockMatchesReference() { checkSwinBlock("swin_block_noshift", shift: 0) }

    func testShiftMaskAndRelativeIndexMatchReference() {
        let c = fixture.case("swin_block_shift")
        XCTAssertEqual(shiftedWindowMask(height: 8, width: 12, window: 4, shift: 2).array, c.tensor("mask").array)
        XCTAssertEqual(relativePositionIndex(window: 4).array, c.tensor("relative_position_index").array)
    }

    func testPatchMergingOrderMatchesReference() {
        let c = fixture.case("patch_merging")
        let pm = PatchMerging(dim: 3)
        loadParameters(pm, c)
        assertClose(pm(c.tensor("x")), c.tensor("output"), atol: 1e-5, rtol: 1e-4, "patch merging")
    }

    func testWindowPartitionRoundTrip() {
        let x = randomTensor([2, 6, 9, 3], seed: 4)
        let w = windowPartition(x, window: 3)
        XCTAssertEqual(w.shape, [12, 9, 3])
        // Window 1 of image 0 covers rows 0-2, columns 3-5; its token 4 is pixel (1, 4).
        XCTAssertEqual(w.slice(axis: 0, 1, 2).slice(axis: 1, 4, 5).array, x.slice(axis: 0, 0, 1).slice(axis: 1, 1, 2).slice(axis: 2, 4, 5).array)
        XCTAssertEqual(windowReverse(w, window: 3, height: 6, width: 9).array, x.array)
    }

    func testSwinBlockPadsGridsThatAreNotWindowMultiples() {
        let block = SwinBlock(dim: 4, resolution: (10, 10), heads: 2, window: 4, shift: 2)
        let y = block(randomTensor([1, 10, 7, 4], seed: 5))
        XCTAssertEqual(y.shape, [1, 10, 7, 4])
        XCTAssertFalse(y.hasNonFinite)
        // A grid no larger than the window: one window, no shift.
        let small = SwinBlock(dim: 4, resolution: (3, 3), heads: 2, window: 7, shift: 3)
        XCTAssertEqual(small.window, 3)
        XCTAssertEqual(small.shift, 0)
    }

    func testSwinEncoderStageShapes() {
        var cfg = SwinConfig.tiny
        cfg.imageSize = 32; cfg.embedDim = 8; cfg.depths = [2, 2]; cfg.heads = [1, 2]; cfg.window = 4
        let enc = SwinEncoder(cfg)
        let f = enc.features(randomTensor([2, 3, 32, 32], seed: 6))
        XCTAssertEqual(f.map { $0.shape }, [[2, 8, 8, 8], [2, 16, 4, 4]])
        XCTAssertEqual(enc.stageChannels, [8, 16])
        let names = Set(enc.stateDict().keys)
        for key in ["patch_embed.proj.weight", "patch_embed.norm.weight", "layers.0.blocks.1.attn.relative_position_bias_table",
                    "layers.0.blocks.0.attn.relative_position_index", "layers.0.downsample.reduction.weight",
                    "layers.0.downsample.norm.bias", "layers.1.blocks.1.mlp.fc2.bias", "norm.weight"] {
            XCTAssertTrue(names.contains(key), key)
        }
        XCTAssertFalse(names.contains("layers.1.downsample.reduction.weight"))
    }

    // MARK: Parameter counts of the reference architectures (torchvision/timm/transformers report the same)

    func testSwinTinyParameterCount() {
        var cfg = SwinConfig.tiny
        cfg.numClasses = 1000
        XCTAssertEqual(SwinEncoder(cfg).parameterCount, 28_288_354)
    }

    func testViTBase16ParameterCount() {
        var cfg = ViTConfig.base16
        cfg.numClasses = 1000
        let vit = VisionTransformer(cfg)
        XCTAssertEqual(vit.parameterCount, 86_567_656)
        let names = Set(vit.stateDict().keys)
        for key in ["cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.11.attn.qkv.weight", "blocks.0.attn.proj.bias",
                    "blocks.3.norm2.weight", "blocks.3.mlp.fc1.weight", "norm.bias", "head.weight"] {
            XCTAssertTrue(names.contains(key), key)
        }
    }

    func testResNet50ParameterCountAndNames() {
        var cfg = ResNetConfig.resnet50
        cfg.numClasses = 1000
        let net = ResNet(cfg)
        XCTAssertEqual(net.parameterCount, 25_557_032)
        let names = Set(net.stateDict().keys)
        for key in ["conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer1.0.downsample.0.weight",
                    "layer1.0.downsample.1.running_var", "layer3.5.bn3.weight", "layer4.2.conv3.weight", "fc.bias"] {
            XCTAssertTrue(names.contains(key), key)
        }
        XCTAssertFalse(names.contains("layer1.1.downsample.0.weight"))
    }

    func testResNetFeatureStrides() {
        let net = ResNet(ResNetConfig(block: .basic, layers: [1, 1, 1, 1], inChannels: 1))
        let f = net.features(randomTensor([1, 1, 64, 64], seed: 8))
        XCTAssertEqual(f.map { $0.shape }, [[1, 64, 32, 32], [1, 64, 16, 16], [1, 128, 8, 8], [1, 256, 4, 4], [1, 512, 2, 2]])
        XCTAssertEqual(net.featureChannels, [64, 64, 128, 256, 512])
    }

    func testViTHiddenStatesAndFeatureMap() {
        var cfg = ViTConfig.tiny16
        cfg.imageSize = 32; cfg.patchSize = 8; cfg.dim = 16; cfg.depth = 2; cfg.heads = 2
        let vit = VisionTransformer(cfg)
        let h = vit.hiddenStates(randomTensor([2, 3, 32, 32], seed: 9))
        XCTAssertEqual(h.map { $0.shape }, [[2, 17, 16], [2, 17, 16]])
        XCTAssertEqual(vit.featureMap(h[1]).shape, [2, 16, 4, 4])
        XCTAssertEqual(vit(randomTensor([1, 3, 32, 32], seed: 10)).shape, [1, 16])
    }

    // MARK: Finite-difference gradient checks

    func testAttentionGradientsByFiniteDifferences() {
        let mha = MultiHeadAttention(dim: 4, heads: 2, keyDim: 3)
        let pad = Tensor([0, 0, 0, 1, 0, 0, 1, 1], shape: [2, 4])
        checkGradients([randomTensor([2, 3, 4], seed: 11), randomTensor([2, 4, 3], seed: 12), randomTensor([3, 4], seed: 13),
                        mha.q_proj.weight, mha.v_proj.bias!]) { t in
            mha(t[0], key: t[1], keyPaddingMask: pad, attentionBias: t[2]).output
        }
    }

    func testSwinBlockGradientsByFiniteDifferences() {
        let block = SwinBlock(dim: 4, resolution: (4, 4), heads: 2, window: 2, shift: 1)
        var r = RNG(seed: 15)
        Init.normal(block.attn.relative_position_bias_table, std: 0.5, rng: &r)
        checkGradients([randomTensor([1, 4, 4, 4], seed: 14), block.attn.relative_position_bias_table,
                        block.attn.qkv.weight, block.norm1.weight!]) { t in block(t[0]) }
    }

    func testTransformerLayerGradientsByFiniteDifferences() {
        let layer = TransformerEncoderLayer(dim: 4, heads: 2, mlpDim: 8, activation: .gelu, normFirst: true)
        let pad = Tensor([0, 0, 1, 0, 0, 0], shape: [2, 3])
        checkGradients([randomTensor([2, 3, 4], seed: 15), layer.self_attn.k_proj.weight, layer.linear1.weight,
                        layer.norm2.bias!]) { t in layer(t[0], keyPaddingMask: pad) }
        let post = TransformerEncoderLayer(dim: 4, heads: 2, mlpDim: 8, activation: .gelu, normFirst: false)
        checkGradients([randomTensor([2, 3, 4], seed: 16), post.self_attn.out_proj.weight]) { t in post(t[0]) }
    }
}
