import XCTest
import Foundation
import Engine
import NN
@testable import Models

/// Central finite differences of the scalar `f` with respect to every element of `inputs`, against autograd.
/// Passes when the largest difference is within `tolerance` of the largest numerical gradient entry, which must be
/// non-zero (a check of an all-zero gradient proves nothing).
private func vlpGradCheck(_ inputs: [Tensor], eps: Float = 1e-3, tolerance: Float = 2e-2,
                          file: StaticString = #filePath, line: UInt = #line, _ f: () -> Tensor) {
    for t in inputs { t.requiresGrad = true; t.grad = nil }
    let y = f()
    XCTAssertTrue(y.item.isFinite, "loss is \(y.item)", file: file, line: line)
    y.backward()
    for (n, t) in inputs.enumerated() {
        let analytic = t.grad?.array ?? [Float](repeating: 0, count: t.count)
        var numeric = [Float](repeating: 0, count: t.count)
        withoutGrad {
            for i in 0..<t.count {
                let saved = t.ptr[i]
                t.ptr[i] = saved + eps
                let up = f().item
                t.ptr[i] = saved - eps
                let down = f().item
                t.ptr[i] = saved
                numeric[i] = (up - down) / (2 * eps)
            }
        }
        let scale = numeric.map(abs).max() ?? 0
        let worst = zip(analytic, numeric).map { abs($0 - $1) }.max() ?? 0
        // A central difference of two Float32 losses, each rounded to half an ulp, is only known to ulp(loss)/(2·eps):
        // for a loss near 10 that is 5e-4, the size of a small input's whole gradient.
        let rounding = y.item.magnitude.ulp / eps
        XCTAssertGreaterThan(scale, 1e-6, "input \(n): numerical gradient is zero", file: file, line: line)
        XCTAssertLessThanOrEqual(worst, tolerance * scale + rounding,
                                 "input \(n): |autograd − finite difference| = \(worst), gradient scale \(scale), rounding \(rounding)",
                                 file: file, line: line)
    }
}

private func randomTensor(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.randn(shape, std: std, rng: &rng)
}

/// Two texts of five tokens, the second padded after three, with random features of width `dim`.
private func handText(batch: Int = 2, tokens: Int = 5, dim: Int, seed: UInt64 = 7) -> TextInput {
    let ids = (0..<batch).map { b in (0..<tokens).map { t in b % 2 == 1 && t >= 3 ? 0 : 100 + t } }
    let mask = (0..<batch).map { b in (0..<tokens).map { t in b % 2 == 1 && t >= 3 ? 0 : 1 } }
    return TextInput(tokenIds: ids, attentionMask: mask, features: randomTensor([batch, tokens, dim], seed: seed))
}

private func features(batch: Int = 3, patches: Int = 4, words: Int = 5, channels: Int = 6, seed: UInt64 = 11) -> VLPFeatures {
    var maskRows = [Float](repeating: 1, count: batch * words)
    for t in 3..<words { maskRows[1 * words + t] = 0 }      // the second text is padded after three tokens
    return VLPFeatures(imageTokens: randomTensor([batch, patches, channels], seed: seed),
                       textTokens: randomTensor([batch, words, channels], seed: seed + 1),
                       textMask: Tensor(maskRows, shape: [batch, words]))
}

private func sum(_ terms: [String: Tensor]) -> Tensor {
    let v = terms.sorted { $0.key < $1.key }.map(\.value)
    return v.dropFirst().reduce(v[0], +)
}

final class VLPTests: XCTestCase {
    // MARK: CLIP

    func testCLIPTemperatureStartsAt0_07() {
        let clip = CLIPObjective(imageDim: 6, textDim: 6, embedDim: 4)
        XCTAssertEqual(clip.contrastive.logit_scale.item, Foundation.log(1 / 0.07), accuracy: 1e-6)
        XCTAssertEqual(clip.temperature, 0.07, accuracy: 1e-6)
        XCTAssertTrue(clip.contrastive.logit_scale.requiresGrad)
    }

    func testInfoNCEWithIdenticalEmbeddingsIsLogB() {
        // Every logit is the same, so each row's softmax is uniform over B, whatever the temperature.
        let b = 4
        let z = Tensor((0..<b).flatMap { _ in [0.6, 0.8, 0] as [Float] }, shape: [b, 3])
        let loss = InfoNCELoss(temperature: 0.07)(z, z)
        XCTAssertEqual(loss.item, Foundation.log(Float(b)), accuracy: 1e-5)
    }

    func testInfoNCEWithOrthonormalPairsMatchesClosedForm() {
        // Matching pairs have cosine 1, the others 0: loss = log(1 + (B − 1)·exp(−1/τ)) in each direction.
        let b = 3, tau: Float = 0.5
        let eye = Tensor((0..<b).flatMap { i in (0..<b).map { $0 == i ? Float(1) : 0 } }, shape: [b, b])
        let loss = InfoNCELoss(temperature: tau)(eye, eye * 2)   // the scale of the text side must not matter
        XCTAssertEqual(loss.item, Foundation.log(1 + Float(b - 1) * Foundation.exp(-1 / tau)), accuracy: 1e-5)
        let sharp = InfoNCELoss(temperature: 0.07)(eye, eye)
        XCTAssertEqual(sharp.item, Foundation.log(1 + 2 * Foundation.exp(-1 / 0.07)), accuracy: 1e-6)
    }

    func testCLIPObjectiveGradient() {
        let clip = CLIPObjective(imageDim: 6, textDim: 6, embedDim: 4, temperature: 0.5)
        let f = features()
        vlpGradCheck([f.imageTokens, f.textTokens, clip.contrastive.logit_scale]) { sum(clip.terms(f)) }
    }

    // MARK: MAP

    func testWassersteinDistanceOfDiagonalGaussians() {
        // μ₁ = (1, 2), σ₁ = (1, 2); μ₂ = 0, σ₂ = 1: ‖Δμ‖² = 5, ‖Δσ‖² = 1.
        let w = MAPObjective.wasserstein2Squared(mu1: Tensor([1, 2], shape: [1, 2]),
                                                 logvar1: Tensor([0, Foundation.log(4)], shape: [1, 2]),
                                                 mu2: Tensor(zeros: [1, 2]), logvar2: Tensor(zeros: [1, 2]))
        XCTAssertEqual(w.shape, [1, 1])
        XCTAssertEqual(w.item, 6, accuracy: 1e-5)
    }

    func testMAPContrastiveLossMatchesHandValue() {
        // Means 0 and 1 on both sides, unit variances: W₂² = [[0, 1], [1, 0]]; with a = 1 and scale 1 the logits are
        // [[0, −1], [−1, 0]] and each row's cross-entropy is log(1 + e⁻¹).
        let mu = Tensor([0, 1], shape: [2, 1]), logvar = Tensor(zeros: [2, 1])
        let loss = MAPObjective.contrastiveLoss(imageMu: mu, imageLogvar: logvar, textMu: mu, textLogvar: logvar,
                                                distanceScale: 1, logScale: Tensor(scalar: 0))
        XCTAssertEqual(loss.item, Foundation.log(1 + Foundation.exp(-1)), accuracy: 1e-6)
        // Identical distributions everywhere: every logit equal, loss log B.
        let same = Tensor([0.3, -0.2, 0.3, -0.2, 0.3, -0.2], shape: [3, 2])
        let flat = MAPObjective.contrastiveLoss(imageMu: same, imageLogvar: same, textMu: same, textLogvar: same,
                                                distanceScale: 0.5, logScale: Tensor(scalar: Foundation.log(1 / 0.07)))
        XCTAssertEqual(flat.item, Foundation.log(3), accuracy: 1e-5)
    }

    func testMAPEntropyHinge() {
        // H(N(0, I₂)) = 1 + log 2π nats.
        let logvar = Tensor(zeros: [3, 2])
        let h = Float(1 + Foundation.log(2 * Double.pi))
        XCTAssertEqual(MAPObjective.entropy(logvar).array, [h, h, h], accuracy: 1e-5)
        XCTAssertEqual(MAPObjective.entropyHinge(logvar, marginPerDimension: 2).item, 4 - h, accuracy: 1e-5)
        XCTAssertEqual(MAPObjective.entropyHinge(logvar, marginPerDimension: 1).item, 0)
        // Halving every variance lowers the entropy by ½·E·log 2.
        let halved = Tensor(filled: -Foundation.log(2), shape: [1, 2])
        XCTAssertEqual(MAPObjective.entropy(halved).item, h - Foundation.log(2), accuracy: 1e-5)
    }

    func testMAPObjectiveShapesAndDefaults() {
        let map = MAPObjective(imageDim: 6, textDim: 6, embedDim: 8)
        XCTAssertEqual(Foundation.exp(-map.logit_scale.item), 0.07, accuracy: 1e-6)
        XCTAssertEqual(map.distanceScale, 768 / 200 / 8, accuracy: 1e-6)
        let f = features()
        let (img, txt) = map.distributions(f)
        XCTAssertEqual(img.mu.shape, [3, 8]); XCTAssertEqual(img.logvar.shape, [3, 8])
        XCTAssertEqual(txt.mu.shape, [3, 8]); XCTAssertEqual(txt.logvar.shape, [3, 8])
        let terms = map.terms(f)
        XCTAssertEqual(Set(terms.keys), ["map_dvlc", "map_entropy_margin"])
        XCTAssertTrue(terms.values.allSatisfy { $0.item.isFinite })
    }

    func testMAPPaddedTokensDoNotChangeTheTextDistribution() {
        let map = MAPObjective(imageDim: 6, textDim: 6, embedDim: 8)
        let f = features()
        let before = map.distributions(f).text.mu.array
        let edited = f.textTokens.detached()
        for c in 0..<6 { edited.ptr[(1 * 5 + 4) * 6 + c] = 50 }   // a padded token of the second text
        let g = VLPFeatures(imageTokens: f.imageTokens, textTokens: edited, textMask: f.textMask)
        XCTAssertEqual(map.distributions(g).text.mu.array, before, accuracy: 1e-5)
    }

    func testMAPObjectiveGradient() {
        // A margin above the entropy at initialisation keeps the hinge active, so its gradient is checked too.
        let map = MAPObjective(imageDim: 6, textDim: 6, embedDim: 8, temperature: 0.5, marginPerDimension: 3, marginWeight: 0.5)
        map.initialize(seed: 1234)
        let f = features()
        XCTAssertGreaterThan(map.terms(f)["map_entropy_margin"]!.item, 0.1)
        vlpGradCheck([f.imageTokens, f.textTokens, map.logit_scale]) { sum(map.terms(f)) }
    }

    func testMAPContrastiveGradientInMeansAndVariances() {
        let mu1 = randomTensor([3, 4], seed: 1), lv1 = randomTensor([3, 4], seed: 2, std: 0.5)
        let mu2 = randomTensor([3, 4], seed: 3), lv2 = randomTensor([3, 4], seed: 4, std: 0.5)
        vlpGradCheck([mu1, lv1, mu2, lv2]) {
            MAPObjective.contrastiveLoss(imageMu: mu1, imageLogvar: lv1, textMu: mu2, textLogvar: lv2, distanceScale: 0.3,
                                         logScale: Tensor(scalar: 0))
        }
    }

    // MARK: MGCA

    func testSinkhornRowsSumToOneAndPrototypesShareTheMass() {
        let (b, k) = (6, 4)
        let scores = Loss.l2Normalize(randomTensor([b, k], seed: 5))
        let codes = MGCAObjective.sinkhornKnopp(scores, epsilon: 0.05, iterations: 200)
        for i in 0..<b {
            XCTAssertEqual(codes.slice(axis: 0, i, i + 1).sum().item, 1, accuracy: 1e-5, "sample \(i)")
        }
        // Converged: every prototype carries B/K of the codes.
        XCTAssertEqual(codes.sum(axis: 0).array, [Float](repeating: Float(b) / Float(k), count: k), accuracy: 1e-3)
        XCTAssertTrue(codes.array.allSatisfy { $0 >= 0 })
        // MGCA's three iterations already spread the mass more evenly than the plain softmax(scores/ε) would.
        let three = MGCAObjective.sinkhornKnopp(scores, epsilon: 0.05, iterations: 3)
        let softmax = (scores * 20).softmax()
        func imbalance(_ c: Tensor) -> Float { c.sum(axis: 0).array.map { abs($0 - Float(b) / Float(k)) }.max()! }
        XCTAssertLessThan(imbalance(three), imbalance(softmax))
        for i in 0..<b { XCTAssertEqual(three.slice(axis: 0, i, i + 1).sum().item, 1, accuracy: 1e-5) }
    }

    func testSinkhornSharesOutAPrototypeEverybodyPrefers() {
        // Both samples prefer prototype 0 equally; equipartition forces half of each onto prototype 1.
        let codes = MGCAObjective.sinkhornKnopp(Tensor([1, 0, 1, 0], shape: [2, 2]), epsilon: 0.05, iterations: 1)
        XCTAssertEqual(codes.array, [0.5, 0.5, 0.5, 0.5], accuracy: 1e-6)
        let uniform = MGCAObjective.sinkhornKnopp(Tensor(zeros: [3, 5]), epsilon: 0.05, iterations: 3)
        XCTAssertEqual(uniform.array, [Float](repeating: 0.2, count: 15), accuracy: 1e-6)
    }

    func testMGCAInstanceLossWithIdenticalEmbeddingsIsTwoLogB() {
        // MGCA sums the two directions (CLIP averages them).
        let z = Tensor([1, 0, 1, 0, 1, 0, 1, 0], shape: [4, 2])
        XCTAssertEqual(MGCAObjective.instanceLoss(z, z, temperature: 0.07).item, 2 * Foundation.log(4), accuracy: 1e-5)
    }

    func testMGCATokenAlignmentMatchesHandValue() {
        // Words = patches = (e₁, e₂), τ = 1. Word 1 attends to the patches with p = e/(e+1) and 1 − p; its context is
        // (p, 1 − p)/r with r = √(p² + (1 − p)²). Rows and columns of the similarity matrix are [p, 1 − p]/r up to
        // order, so every cross-entropy is log(1 + exp(−d)), d = (2p − 1)/r; both CTA terms are equal.
        let e = Tensor([1, 0, 0, 1], shape: [1, 2, 2])
        let loss = MGCAObjective.tokenAlignmentLoss(words: e, patches: e, wordMask: Tensor.ones([1, 2]), temperature: 1)
        let p = Foundation.exp(1.0) / (Foundation.exp(1.0) + 1)
        let d = (2 * p - 1) / (p * p + (1 - p) * (1 - p)).squareRoot()
        XCTAssertEqual(Double(loss.item), 2 * Foundation.log(1 + Foundation.exp(-d)), accuracy: 1e-5)
    }

    func testMGCATokenAlignmentIgnoresPaddedWords() {
        let words = Loss.l2Normalize(randomTensor([2, 5, 4], seed: 21))
        let patches = Loss.l2Normalize(randomTensor([2, 3, 4], seed: 22))
        let mask = Tensor([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], shape: [2, 5])
        let base = MGCAObjective.tokenAlignmentLoss(words: words, patches: patches, wordMask: mask, temperature: 0.1).item
        let edited = words.detached()
        for c in 0..<4 { edited.ptr[(1 * 5 + 4) * 4 + c] = c == 0 ? 1 : 0 }
        let after = MGCAObjective.tokenAlignmentLoss(words: edited, patches: patches, wordMask: mask, temperature: 0.1).item
        XCTAssertEqual(after, base, accuracy: 1e-5)
        // A single real word against a single patch leaves nothing to contrast: the loss is 0.
        let one = MGCAObjective.tokenAlignmentLoss(words: words.slice(axis: 0, 1, 2).slice(axis: 1, 0, 2),
                                                   patches: patches.slice(axis: 0, 1, 2).slice(axis: 1, 0, 1),
                                                   wordMask: Tensor([1, 0], shape: [1, 2]), temperature: 0.1)
        XCTAssertEqual(one.item, 0, accuracy: 1e-5)
    }

    func testMGCASwappedPredictionMatchesHandValue() {
        // Uniform predictions against one-hot codes: −log(1/K) in both directions.
        let k = 5
        let codes = Tensor([1, 0, 0, 0, 0, 0, 0, 1, 0, 0], shape: [2, k])
        let loss = MGCAObjective.swappedPredictionLoss(imageScores: Tensor(zeros: [2, k]), textScores: Tensor(zeros: [2, k]),
                                                       imageCodes: codes, textCodes: codes, temperature: 0.2)
        XCTAssertEqual(loss.item, Foundation.log(Float(k)), accuracy: 1e-5)
    }

    func testMGCATokenAlignmentGradient() {
        let w = randomTensor([2, 5, 4], seed: 31), p = randomTensor([2, 3, 4], seed: 32)
        let mask = Tensor([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], shape: [2, 5])
        vlpGradCheck([w, p]) {
            MGCAObjective.tokenAlignmentLoss(words: Loss.l2Normalize(w), patches: Loss.l2Normalize(p), wordMask: mask,
                                             temperature: 0.5)
        }
    }

    func testMGCASwappedPredictionGradient() {
        let si = randomTensor([3, 4], seed: 41), st = randomTensor([3, 4], seed: 42)
        // Codes are targets (computed without gradient in MGCA), so they are held fixed here.
        let ci = MGCAObjective.sinkhornKnopp(si, epsilon: 0.05, iterations: 3)
        let ct = MGCAObjective.sinkhornKnopp(st, epsilon: 0.05, iterations: 3)
        vlpGradCheck([si, st]) {
            MGCAObjective.swappedPredictionLoss(imageScores: si, textScores: st, imageCodes: ci, textCodes: ct, temperature: 0.5)
        }
    }

    func testMGCAObjectiveGradient() {
        // The prototype term's targets move with the inputs through Sinkhorn, which autograd treats as constants, so
        // the full objective is checked without it (its gradient has its own check above).
        let mgca = MGCAObjective(imageDim: 6, textDim: 6, embedDim: 4, prototypes: 5, instanceTemperature: 0.5,
                                 localTemperature: 0.5, lambdas: (1, 1, 0))
        mgca.initialize(seed: 1234)
        let f = features()
        XCTAssertEqual(Set(mgca.terms(f).keys), ["mgca_instance", "mgca_token"])
        vlpGradCheck([f.imageTokens, f.textTokens]) { sum(mgca.terms(f)) }
    }

    func testMGCAPrototypesAreNormalisedAndFrozenInTheFirstEpoch() {
        let mgca = MGCAObjective(imageDim: 6, textDim: 6, embedDim: 4, prototypes: 5)
        let f = features()
        mgca.epochWillBegin(0)
        sum(mgca.terms(f)).backward()
        XCTAssertNil(mgca.prototype_layer.weight.grad, "prototypes must not move in epoch 0")
        XCTAssertNotNil(mgca.image_global.fc1.weight.grad)
        let norms = mgca.prototype_layer.weight.square().sum(axis: 1).array
        XCTAssertEqual(norms, [Float](repeating: 1, count: 5), accuracy: 1e-5)
        mgca.zeroGrad()
        mgca.epochWillBegin(1)
        let terms = mgca.terms(f)
        XCTAssertEqual(Set(terms.keys), ["mgca_instance", "mgca_token", "mgca_prototype"])
        sum(terms).backward()
        XCTAssertNotNil(mgca.prototype_layer.weight.grad)
    }

    // MARK: The segmenter

    func testSegmenterForwardShapesForEveryMethod() {
        for method in VLPMethod.allCases {
            let model = VLPSegmenter(method: method, scale: .smoke, inChannels: 3, imageSize: 32, textDim: 8)
            let image = randomTensor([2, 3, 32, 32], seed: 3)
            let out = model(image, text: handText(dim: 8))
            XCTAssertEqual(out.logits.shape, [2, 1, 32, 32], "\(method)")
            XCTAssertFalse(out.logits.hasNonFinite, "\(method)")
            // A 32² image leaves a 2×2 bottleneck: 4 positions attending to 5 tokens.
            let att = out.attentionMaps["bottleneck_text"]!
            XCTAssertEqual(att.shape, [2, 4, 5])
            for q in 0..<4 {
                let row = Array(att.array[(4 + q) * 5..<(4 + q) * 5 + 5])
                XCTAssertEqual(row[3], 0, "\(method): padded token attended"); XCTAssertEqual(row[4], 0)
                XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-5)
            }
            XCTAssertTrue(model.usesText)
        }
    }

    func testTextChangesThePrediction() {
        // In training mode, where BatchNorm rescales every layer; at initialisation the running statistics of
        // evaluation mode shrink the untrained activations towards zero and hide any input's effect.
        let model = VLPSegmenter(method: .clip, scale: .smoke, inChannels: 1, imageSize: 32, textDim: 8)
        let image = randomTensor([2, 1, 32, 32], seed: 4)
        let a = withoutGrad { model(image, text: handText(dim: 8, seed: 1)).logits.array }
        let b = withoutGrad { model(image, text: handText(dim: 8, seed: 2)).logits.array }
        XCTAssertGreaterThan(zip(a, b).map { abs($0 - $1) }.max()!, 1e-4)
    }

    func testPretrainingTrainsEncodersOnly() {
        for method in VLPMethod.allCases {
            let model = VLPSegmenter(method: method, scale: .smoke, inChannels: 3, imageSize: 32, textDim: 8)
            model.initialize(seed: 5)
            model.pretrainEpochWillBegin(1)
            let loss = model.pretrainLoss(images: randomTensor([4, 3, 32, 32], seed: 9), text: handText(batch: 4, dim: 8))
            XCTAssertTrue(loss.item.isFinite && loss.item > 0, "\(method): \(loss.item)")
            loss.backward()
            XCTAssertNotNil(model.encoder[0].namedParameters()[0].1.grad, "\(method): stem gets no gradient")
            XCTAssertNotNil(model.text_proj.fc1.weight.grad, "\(method): text projection gets no gradient")
            XCTAssertNil(model.head.weight.grad, "\(method): head must not train in phase 1")
            XCTAssertTrue(model.decoder.allSatisfy { $0.namedParameters().allSatisfy { $0.1.grad == nil } })
            XCTAssertNil(model.fusion.cross_attn.q_proj.weight.grad)
            let pre = Set(model.pretrainParameters.map { ObjectIdentifier($0) })
            XCTAssertFalse(pre.contains(ObjectIdentifier(model.head.weight)))
            XCTAssertTrue(pre.contains(ObjectIdentifier(model.text_proj.fc2.weight)))
        }
    }

    func testPrepareForFineTuningLeavesTheSegmenterTrainable() {
        let model = VLPSegmenter(method: .mgca, scale: .smoke, inChannels: 3, imageSize: 32, textDim: 8)
        VLPProtocol.prepareForFineTuning(model)
        let trainable = model.trainableParameters.reduce(0) { $0 + $1.count }
        XCTAssertEqual(trainable, model.segmentationParameterCount)
        XCTAssertTrue(model.objective.namedParameters().allSatisfy { !$0.1.requiresGrad })
        let out = model(randomTensor([2, 3, 32, 32], seed: 1), text: handText(dim: 8))
        Loss.bceWithLogits(out.logits, Tensor(zeros: [2, 1, 32, 32])).backward()
        XCTAssertNotNil(model.head.weight.grad)
        XCTAssertNotNil(model.encoder[0].namedParameters()[0].1.grad)
    }

    func testSegmentationParametersAreTheSameForEveryMethodAndExtendTheUNet() {
        // Paper scale, BERT-base text: U-Net + text projection (768→1024→1024) + fusion (14×14 position embedding,
        // two LayerNorms, 1024-wide cross-attention).
        let unet = UNet(config: .of(.paper), inChannels: 3).parameterCount
        let text = (768 * 1024 + 1024) + (1024 * 1024 + 1024)
        let fusion = 196 * 1024 + 2 * 2 * 1024 + 4 * (1024 * 1024 + 1024)
        var counts: [VLPMethod: (Int, Int)] = [:]
        for method in VLPMethod.allCases {
            let m = VLPSegmenter(method: method, scale: .paper, inChannels: 3, imageSize: 224, textDim: 768)
            counts[method] = (m.segmentationParameterCount, m.objective.parameterCount)
            XCTAssertEqual(m.segmentationParameterCount, unet + text + fusion, "\(method)")
        }
        print("VLP paper-scale parameters (segmenter, pre-training heads):",
              VLPMethod.allCases.map { "\($0.tableName) \(counts[$0]!.0) + \(counts[$0]!.1)" }.joined(separator: "; "))
    }

    func testScaleSegmentersDifferOnlyInTheirPretrainingHeads() {
        // MiniLM's 384-wide features at proxy scale (64² images, base width 16).
        let models = VLPMethod.allCases.map { VLPSegmenter(method: $0, scale: .proxy, inChannels: 3, imageSize: 64, textDim: 384) }
        let unet = UNet(config: .of(.proxy), inChannels: 3).parameterCount
        let c = 256
        let expected = unet + (384 * c + c) + (c * c + c) + (16 * c + 4 * c + 4 * (c * c + c))
        for m in models { XCTAssertEqual(m.segmentationParameterCount, expected, "\(m.method)") }
        print("VLP proxy-scale parameters (segmenter, pre-training heads):",
              models.map { "\($0.method.tableName) \($0.segmentationParameterCount) + \($0.objective.parameterCount)" }
                  .joined(separator: "; "), "; U-Net \(unet)")
    }

    // MARK: Phase 1 loop

    func testEpochBatchesAreSeededFullBatches() {
        let a = VLPProtocol.epochBatches(pairs: 10, batchSize: 4, seed: 3, epoch: 0)
        XCTAssertEqual(a.count, 2)
        XCTAssertTrue(a.allSatisfy { $0.count == 4 })
        XCTAssertEqual(Set(a.flatMap { $0 }).count, 8)
        XCTAssertEqual(a, VLPProtocol.epochBatches(pairs: 10, batchSize: 4, seed: 3, epoch: 0))
        XCTAssertNotEqual(a, VLPProtocol.epochBatches(pairs: 10, batchSize: 4, seed: 3, epoch: 1))
    }

    func testPretrainLoopRunsEveryMethodAndLowersTheLoss() throws {
        // Twelve pairs whose text features are a fixed function of the image: an objective that learns anything must
        // bring its loss down over a few epochs on them.
        let pairs = 12
        let images = randomTensor([pairs, 1, 32, 32], seed: 77)
        let mixing = randomTensor([32, 8], seed: 78)
        let feats = Tensor.matmul(images.reshaped([pairs, 32, 32]).mean(axis: 2).unsqueezed(1).expanded(to: [pairs, 3, 32]), mixing)
        func batch(_ idx: [Int]) -> VLPProtocol.Batch {
            let ids = idx.map { _ in [101, 5, 102] }
            return VLPProtocol.Batch(images: images.indexSelect(axis: 0, idx),
                                     text: TextInput(tokenIds: ids, features: feats.indexSelect(axis: 0, idx)))
        }
        for method in VLPMethod.allCases {
            let model = VLPSegmenter(method: method, scale: .smoke, inChannels: 1, imageSize: 32, textDim: 8)
            model.initialize(seed: 8)
            // With warm-up, as the methods' recipes train: without it MGCA's loss jumped 2.5× in its second epoch for
            // one initialisation in six (seeds 1-5 and 8 tried), and ended above its first.
            let settings = VLPPretrainSettings(epochs: 6, batchSize: 4, learningRate: 3e-3, weightDecay: 0.05, warmupFraction: 0.3)
            var seen: [Int] = []
            let logs = try VLPProtocol.pretrain(model, pairs: pairs, settings: settings, seed: 1, makeBatch: batch) { seen.append($0.epoch) }
            XCTAssertEqual(seen, [1, 2, 3, 4, 5, 6])
            XCTAssertTrue(logs.allSatisfy { $0.loss.isFinite && $0.steps == 3 })
            XCTAssertEqual(logs[0].loss, logs[0].terms.values.reduce(0, +), accuracy: 1e-4)
            XCTAssertLessThan(logs.last!.loss, logs.first!.loss, "\(method): \(logs.map(\.loss))")
            XCTAssertTrue(model.namedParameters().allSatisfy { $0.1.grad == nil })
        }
    }
}

private func XCTAssertEqual(_ a: [Float], _ b: [Float], accuracy: Float, _ message: String = "",
                            file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "lengths differ", file: file, line: line)
    for (i, (x, y)) in zip(a, b).enumerated() where abs(x - y) > accuracy {
        XCTFail("element \(i): \(x) vs \(y) (±\(accuracy)) \(message)", file: file, line: line)
        return
    }
}
