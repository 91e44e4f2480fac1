import XCTest
import Foundation
import Engine
import NN
@testable import Models

/// TMC's parts (frozen text encoder, MCM, MA loss, PLAM, LViT, TMC) at tiny sizes with a random tiny BERT.
final class TMCTests: XCTestCase {
    private let texts = ["Bilateral pulmonary infection, two infected areas, all left lung and all right lung.",
                         "Unilateral pulmonary infection, one infected area, middle left lung."]

    private func tinyEncoder() -> FrozenTextEncoder {
        FrozenTextEncoder.randomTiny(hidden: 16, layers: 2, heads: 2,
                                     words: ["bilateral", "unilateral", "pulmonary", "infection", "lung", "left", "right"])
    }

    private func randn(_ shape: [Int], seed: UInt64, requiresGrad: Bool = false) -> Tensor {
        var rng = RNG(seed: seed)
        return Tensor.randn(shape, rng: &rng, requiresGrad: requiresGrad)
    }

    /// Σ out ⊙ W for a fixed random W: a scalar whose gradient reaches every element of `out`.
    private func probe(_ out: Tensor, seed: UInt64) -> Tensor { (out * randn(out.shape, seed: seed)).sum() }

    // MARK: Local gradient check

    /// Compares the analytic gradient of `loss` with central differences at `samples` random coordinates of each
    /// tensor; |analytic − numeric| must stay below tol·max(1, |numeric|).
    private func tmcFiniteDifferenceCheck(_ tensors: [(String, Tensor)], samples: Int = 6, eps: Float = 1e-2,
                                          tol: Float = 2e-2, file: StaticString = #filePath, line: UInt = #line,
                                          _ loss: () -> Tensor) {
        for (_, t) in tensors { t.grad = nil; t.requiresGrad = true }
        loss().backward()
        let analytic = tensors.map { $0.1.grad?.array ?? [Float](repeating: 0, count: $0.1.count) }
        var rng = RNG(seed: 99)
        for (k, (name, t)) in tensors.enumerated() {
            for _ in 0..<Swift.min(samples, t.count) {
                let i = rng.int(t.count)
                let original = t.ptr[i]
                t.ptr[i] = original + eps
                let plus = withoutGrad { loss().item }
                t.ptr[i] = original - eps
                let minus = withoutGrad { loss().item }
                t.ptr[i] = original
                let numeric = (plus - minus) / (2 * eps)
                XCTAssertEqual(analytic[k][i], numeric, accuracy: tol * Swift.max(1, abs(numeric)),
                               "d loss / d \(name)[\(i)]", file: file, line: line)
            }
        }
    }

    // MARK: Text encoder

    func testStageLayersSpreadOverTheDepthAndEndAtTheLastLayer() {
        func layers(_ l: Int, _ n: Int) -> [Int] { (1...n).map { FrozenTextEncoder.stageLayer($0, of: n, layers: l) } }
        XCTAssertEqual(layers(6, 4), [2, 3, 5, 6])
        XCTAssertEqual(layers(12, 4), [3, 6, 9, 12])
        XCTAssertEqual(layers(2, 4), [1, 1, 2, 2])
        XCTAssertEqual(layers(6, 3), [2, 4, 6])
    }

    func testEncodePadsToTheLongestTextAndMatchesAnUncachedBERTRun() {
        let enc = tinyEncoder()
        let input = enc.encode(texts, stages: 4)
        let t = input.tokenIds[0].count
        XCTAssertEqual(input.tokenIds.map(\.count), [t, t])
        XCTAssertGreaterThan(t, input.attentionMask[1].reduce(0, +), "the shorter text is padded")
        XCTAssertEqual(input.features?.shape, [2, t, 16])
        XCTAssertEqual(input.stageFeatures.map(\.shape), [[Int]](repeating: [2, t, 16], count: 4))
        XCTAssertEqual(enc.cachedTexts, 2)

        // Reference: the same BERT on the second text alone, no cache.
        let alone = enc.tokenizer.encodeBatch([texts[1]], maxLength: 64)
        let states = withoutGrad { enc.bert(alone).hiddenStates }
        let real = alone[0].ids.count
        XCTAssertEqual(Array(input.tokenIds[1].prefix(real)), alone[0].ids)
        for (s, layer) in enc.stageLayers(4).enumerated() {
            let got = input.stageFeatures[s].array, want = states[layer].array
            for j in 0..<(real * 16) { XCTAssertEqual(got[t * 16 + j], want[j], accuracy: 1e-4) }
            // Padded positions are zeros.
            for j in (real * 16)..<(t * 16) { XCTAssertEqual(got[t * 16 + j], 0) }
        }
        // A second call hits the cache and returns the same values.
        let again = enc.encode([texts[1]], stages: 4)
        XCTAssertEqual(enc.cachedTexts, 2)
        XCTAssertEqual(Array(again.features!.array.prefix(real * 16)),
                       Array(input.features!.array[(t * 16)..<(t * 16 + real * 16)]))
        XCTAssertTrue(enc.bert.trainableParameters.isEmpty, "the text encoder is frozen")
    }

    func testMissingModelDirectoryNamesThePathAndMakeSetup() {
        XCTAssertThrowsError(try FrozenTextEncoder(directory: "/nonexistent/minilm")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("/nonexistent/minilm"), message)
            XCTAssertTrue(message.contains("make setup"), message)
        }
    }

    // MARK: MCM

    func testMCMShapesAndMaps() {
        let stage = CrossAttentionStage(dim: 8, textDim: 6, heads: 2)
        let out = stage(visual: randn([2, 5, 8], seed: 1), text: randn([2, 3, 6], seed: 2))
        XCTAssertEqual(out.visual.shape, [2, 5, 8])
        XCTAssertEqual(out.text.shape, [2, 3, 8])
        XCTAssertEqual(out.visionToText.shape, [2, 5, 3])
        XCTAssertEqual(out.textToVision.shape, [2, 3, 5])
        // Attention rows are distributions.
        for r in 0..<10 { XCTAssertEqual((0..<3).map { out.visionToText.ptr[r * 3 + $0] }.reduce(0, +), 1, accuracy: 1e-5) }
    }

    func testMCMGradientsMatchFiniteDifferences() {
        let stage = CrossAttentionStage(dim: 4, textDim: 6, heads: 2, previousDim: 3)
        let visual = randn([2, 5, 4], seed: 3), text = randn([2, 3, 6], seed: 4), previous = randn([2, 3, 3], seed: 5)
        let padding = Tensor([0, 0, 0, 0, 0, 1], shape: [2, 3])
        let loss = {
            let o = stage(visual: visual, text: text, previousText: previous, textPaddingMask: padding)
            return self.probe(o.visual, seed: 6) + self.probe(o.text, seed: 7)
        }
        tmcFiniteDifferenceCheck([("visual", visual), ("text", text), ("previous", previous),
                                  ("text_proj.weight", stage.text_proj.weight), ("carry_proj.weight", stage.carry_proj!.weight),
                                  ("v_attn.q_proj.weight", stage.v_attn.q_proj.weight),
                                  ("v_attn.k_proj.weight", stage.v_attn.k_proj.weight),
                                  ("l_attn.v_proj.weight", stage.l_attn.v_proj.weight),
                                  ("v_mlp.fc1.weight", stage.v_mlp.fc1.weight), ("l_mlp.fc2.weight", stage.l_mlp.fc2.weight),
                                  ("norm_vq.weight", stage.norm_vq.weight!)], loss)
    }

    func testMCMIgnoresPaddedWords() {
        let stage = CrossAttentionStage(dim: 4, textDim: 6, heads: 2)
        let visual = randn([1, 5, 4], seed: 8), text = randn([1, 3, 6], seed: 9)
        let padding = Tensor([0, 0, 1], shape: [1, 3])
        let before = stage(visual: visual, text: text, textPaddingMask: padding).visual.array
        for j in 0..<6 { text.ptr[2 * 6 + j] += 5 }
        let after = stage(visual: visual, text: text, textPaddingMask: padding).visual.array
        for (a, b) in zip(before, after) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    // MARK: MA loss

    private func alignmentInputs() -> (visual: [Tensor], cls: [Tensor]) {
        ([randn([3, 4, 4], seed: 20), randn([3, 2, 6], seed: 21)], [randn([3, 5], seed: 22), randn([3, 5], seed: 23)])
    }

    func testAlignmentGradientsMatchFiniteDifferencesForBothReadings() {
        for reading in AlignmentReading.allCases {
            let loss = MultiStageAlignmentLoss(visualDims: [4, 6], textDim: 5, sharedDim: 3, reading: reading)
            let (visual, cls) = alignmentInputs()
            // Samples 0 and 2 share a text: a second matched pair off the diagonal.
            let positives = MultiStageAlignmentLoss.positives(tokenIds: [[1, 2], [1, 3], [1, 2]])
            tmcFiniteDifferenceCheck([("visual0", visual[0]), ("visual1", visual[1]), ("cls0", cls[0]), ("cls1", cls[1]),
                                      ("log_tau0", loss.stages[0].log_tau), ("log_tau1", loss.stages[1].log_tau),
                                      ("visual_proj0", loss.stages[0].visual_proj.weight),
                                      ("text_proj1", loss.stages[1].text_proj.weight)], eps: 5e-3) {
                loss(visual: visual, cls: cls, positives: positives)
            }
        }
    }

    func testLiteralReadingIsMinimisedAtZeroSimilarity() {
        let invTau = Tensor(scalar: 10)
        let grid = stride(from: Float(-1), through: 1, by: 0.05).map { $0 }
        let values = grid.map { MultiStageAlignmentLoss.literal(similarity: Tensor([$0], shape: [1]), inverseTemperature: invTau).item }
        let best = values.indices.min { values[$0] < values[$1] }!
        XCTAssertEqual(grid[best], 0, accuracy: 1e-6)
        XCTAssertEqual(values[best], 2 * Float(M_LN2), accuracy: 1e-5)
        // Symmetric: pushing a matched pair together costs as much as pushing it apart.
        XCTAssertEqual(values.first!, values.last!, accuracy: 1e-4)
        XCTAssertGreaterThan(values.last!, 9)
    }

    func testPairwiseReadingRewardsMatchedPairsAndPenalisesUnmatchedOnes() {
        let invTau = Tensor(scalar: 10)
        func loss(_ s: [Float], _ pos: [[Bool]]? = nil) -> Float {
            MultiStageAlignmentLoss.pairwise(similarity: Tensor(s, shape: [2, 2]), inverseTemperature: invTau, positives: pos).item
        }
        // At zero similarity each of the two terms is log 2.
        XCTAssertEqual(loss([0, 0, 0, 0]), 2 * Float(M_LN2), accuracy: 1e-5)
        // Aligned matches and opposed non-matches: both softplus(−10) ≈ 4.54e-5.
        XCTAssertEqual(loss([1, -1, -1, 1]), 2 * Float(log1p(exp(-10.0))), accuracy: 1e-6)
        XCTAssertLessThan(loss([1, -1, -1, 1]), loss([0, 0, 0, 0]))
        XCTAssertGreaterThan(loss([-1, 1, 1, -1]), 19)
        // When both samples share a text, every pair is matched and only the first term remains.
        XCTAssertEqual(loss([1, 1, 1, 1], [[true, true], [true, true]]), Float(log1p(exp(-10.0))), accuracy: 1e-6)
        XCTAssertEqual(MultiStageAlignmentLoss.positives(tokenIds: [[1, 2], [3], [1, 2]]),
                       [[true, false, true], [false, true, false], [true, false, true]])
    }

    func testAlignmentLossIsTheMeanOverStages() {
        let loss = MultiStageAlignmentLoss(visualDims: [4, 6], textDim: 5, reading: .literal)
        let (visual, cls) = alignmentInputs()
        let total = loss(visual: visual, cls: cls).item
        let perStage = (0..<2).map { loss.stageLoss($0, visual: visual[$0], cls: cls[$0]).item }
        XCTAssertEqual(total, (perStage[0] + perStage[1]) / 2, accuracy: 1e-6)
    }

    // MARK: PLAM

    func testPLAMGradientsMatchFiniteDifferences() {
        let plam = PixelLevelAttention(channels: 3)
        let x = randn([2, 3, 4, 4], seed: 30)
        XCTAssertEqual(plam(x).shape, [2, 3, 4, 4])
        XCTAssertEqual(plam.weights(x).shape, [2, 1, 4, 4])
        tmcFiniteDifferenceCheck([("x", x), ("conv_avg.weight", plam.conv_avg.weight), ("conv_max.weight", plam.conv_max.weight),
                                  ("bottleneck.fc1.weight", plam.bottleneck.fc1.weight),
                                  ("bottleneck.fc2.bias", plam.bottleneck.fc2.bias!)], samples: 8, eps: 1e-3) {
            self.probe(plam(x), seed: 31)
        }
    }

    // MARK: LViT

    func testLViTMapsImageAndTextToOneLogitPerPixel() {
        let enc = tinyEncoder()
        let model = LViT(config: .of(.smoke), inChannels: 1, textDim: 16)
        XCTAssertTrue(model.usesText)
        let text = enc.encode(texts, stages: 0)
        let out = model(randn([2, 1, 32, 32], seed: 40), text: text)
        XCTAssertEqual(out.logits.shape, [2, 1, 32, 32])
        XCTAssertFalse(out.logits.hasNonFinite)
        out.logits.mean().backward()
        XCTAssertNotNil(model.net.text_convs[0].weight.grad, "text reaches the loss")
        XCTAssertNotNil(model.net.down_vit[3].patch_embed.proj.weight.grad)
    }

    func testLViTTextIsCutOrPaddedToTheConfiguredLength() {
        let net = LViTBackbone(config: .of(.smoke), inChannels: 1, textDim: 4)
        XCTAssertEqual(net.fitText(Tensor(zeros: [2, 14, 4])).shape, [2, 10, 4])
        let short = net.fitText(Tensor(filled: 1, shape: [1, 3, 4]))
        XCTAssertEqual(short.shape, [1, 10, 4])
        XCTAssertEqual(short.array.reduce(0, +), 12)
    }

    // MARK: TMC

    private func smokeTMC(mcm: Bool = true, align: Bool = true, reading: AlignmentReading = .pairwise) -> TMC {
        TMC(config: .of(.smoke, useMCM: mcm, useAlignment: align, reading: reading, textWidth: 16), inChannels: 1)
    }

    func testTMCReturnsLogitsAlignmentLossAndHeatMaps() {
        let enc = tinyEncoder()
        let model = smokeTMC()
        XCTAssertTrue(model.usesText)
        let out = model(randn([2, 1, 32, 32], seed: 50), text: enc.encode(texts, stages: 4))
        XCTAssertEqual(out.logits.shape, [2, 1, 32, 32])
        XCTAssertFalse(out.logits.hasNonFinite)
        let align = out.auxLosses["align"]!
        XCTAssertEqual(align.count, 1)
        // |sim| ≤ 1 and τ = 0.1 at initialisation bound each of the two terms by softplus(10).
        XCTAssertGreaterThan(align.item, 0)
        XCTAssertLessThan(align.item, 2 * Float(log1p(exp(10.0))))
        for (i, side) in [8, 4, 2, 1].enumerated() {
            XCTAssertEqual(out.attentionMaps["mcm.\(i + 1).heat"]?.shape, [2, 1, side, side])
            XCTAssertEqual(out.attentionMaps["mcm.\(i + 1).vision_to_text"]?.shape[1], side * side)
        }
        (Loss.bceWithLogits(out.logits, Tensor(zeros: [2, 1, 32, 32])) + align * 0.5).backward()
        for part in ["swin", "mcm", "align", "seg"] {
            let grads = model.namedParameters().filter { $0.0.hasPrefix(part + ".") }.compactMap { $0.1.grad }
            XCTAssertFalse(grads.isEmpty, "\(part) gets gradients")
            XCTAssertGreaterThan(grads.map { $0.array.map(abs).max() ?? 0 }.max() ?? 0, 0, part)
        }
    }

    /// CLS_i for the MA loss is MiniLM's sentence vector by default: the mean of the stage's word features over the
    /// real tokens, padding left out; `.cls` reads the [CLS] position as the paper words it.
    func testSentenceVectorIsTheMaskedMeanOfTheRealTokens() {
        let enc = tinyEncoder()
        let text = enc.encode(texts, stages: 4)
        let words = text.stageFeatures[2]
        let model = smokeTMC()
        let mean = model.sentenceVector(words, text: text)
        let (t, d) = (words.shape[1], words.shape[2])
        for b in 0..<2 {
            let real = text.attentionMask[b].indices.filter { text.attentionMask[b][$0] != 0 }
            XCTAssertLessThan(real.count, t + 1)
            for k in [0, d / 2, d - 1] {
                let want = real.reduce(Float(0)) { $0 + words.array[(b * t + $1) * d + k] } / Float(real.count)
                XCTAssertEqual(mean.array[b * d + k], want, accuracy: 1e-5)
            }
        }
        XCTAssertNotEqual(text.attentionMask[0].reduce(0, +), text.attentionMask[1].reduce(0, +), "the texts differ in length, so one is padded")
        var config = model.config
        config.sentence = .cls
        let cls = TMC(config: config, inChannels: 1).sentenceVector(words, text: text)
        XCTAssertEqual(cls.array, words.slice(axis: 1, 0, 1).squeezed(1).array)
    }

    func testWithoutModulesTMCHasNoAuxLossAndNoMaps() {
        let enc = tinyEncoder()
        let out = smokeTMC(mcm: false, align: false)(randn([2, 1, 32, 32], seed: 51), text: enc.encode(texts, stages: 4))
        XCTAssertEqual(out.logits.shape, [2, 1, 32, 32])
        XCTAssertTrue(out.auxLosses.isEmpty)
        XCTAssertTrue(out.attentionMaps.isEmpty)
    }

    /// Changing only the stage features L_i (the last-layer features that LViT's text path reads stay fixed) changes
    /// TMC's logits with MCM on, and leaves them unchanged without MCM: the text reaches the output through MCM.
    func testStageTextReachesTheLogitsThroughMCM() {
        let enc = tinyEncoder()
        let image = randn([2, 1, 32, 32], seed: 52)
        let a = enc.encode(texts, stages: 4)
        var b = a
        b.stageFeatures = a.stageFeatures.enumerated().map { i, f in f + randn(f.shape, seed: 60 + UInt64(i)) }
        for mcm in [true, false] {
            let model = smokeTMC(mcm: mcm, align: false)
            // Training mode normalises with batch statistics, as in training; equal seeds give equal dropout masks.
            model.placeRandomness(RNG(seed: 5))
            let la = withoutGrad { model(image, text: a).logits.array }
            model.placeRandomness(RNG(seed: 5))
            let lb = withoutGrad { model(image, text: b).logits.array }
            let change = zip(la, lb).map { abs($0 - $1) }.max()!
            let spread = la.max()! - la.min()!
            if mcm { XCTAssertGreaterThan(change, 0.1 * spread, "MCM on: the text must change the prediction") }
            else { XCTAssertEqual(change, 0, "MCM off: stage features only feed MCM and the MA loss") }
        }
    }

    func testParameterCountsSplitByPartAndVariantsDropExactlyTheirModules() {
        let full = smokeTMC().parameterCounts
        XCTAssertEqual(full.total, smokeTMC().parameterCount)
        XCTAssertEqual(smokeTMC(mcm: false).parameterCount, full.total - full.mcm)
        XCTAssertEqual(smokeTMC(align: false).parameterCount, full.total - full.alignment)
        XCTAssertEqual(smokeTMC(mcm: false, align: false).parameterCount, full.withoutNovelModules)
        // Closed forms: MCM stage = 24C² + D·C + 31C (+ P·C + C from stage 2 on); MA head = (C + D)·D + 2D + 1.
        let c = [8, 16, 32, 64], d = 16
        let mcm = (0..<4).map { i in 24 * c[i] * c[i] + d * c[i] + 31 * c[i] + (i == 0 ? 0 : c[i - 1] * c[i] + c[i]) }.reduce(0, +)
        let align = c.map { ($0 + d) * d + 2 * d + 1 }.reduce(0, +)
        XCTAssertEqual(full.mcm, mcm)
        XCTAssertEqual(full.alignment, align)
    }
}
