// CLIP's pre-training objective.
//
// Reference: Alec Radford, Jong Wook Kim, Chris Hallacy, et al., "Learning Transferable Visual Models From Natural
// Language Supervision", ICML 2021 (arXiv:2103.00020), section 2.3 and Figure 3: linear projections of the image and
// text features into a joint space, L2 normalisation, cosine similarities scaled by a learnable temperature
// (initialised to 0.07, logit scale clipped at 100), and the mean of the image→text and text→image cross-entropies
// with the matching pairs on the diagonal.

import Foundation
import Engine
import NN

/// Symmetric InfoNCE between a batch's images and texts, as CLIP trains.
///
/// The global image feature is the mean-pooled bottleneck and the global text feature the masked mean of the projected
/// tokens (`VLPFeatures`); CLIP's own attention pooling and end-of-text token are architecture choices this shared
/// segmenter does not make per method (Papers/TMC/vlp-baselines.md).
public final class CLIPObjective: Module, VLPObjective {
    /// W_i and W_t of CLIP's Figure 3: bias-free linear maps into the joint space.
    public var visual_projection: Linear
    public var text_projection: Linear
    /// Holds log(1/τ), learnable, τ initialised to 0.07.
    public var contrastive: InfoNCELoss

    public init(imageDim: Int, textDim: Int, embedDim: Int, temperature: Float = 0.07) {
        visual_projection = Linear(imageDim, embedDim, bias: false)
        text_projection = Linear(textDim, embedDim, bias: false)
        contrastive = InfoNCELoss(temperature: temperature, learnable: true)
    }

    /// Current temperature τ = 1 / exp(logit_scale), after CLIP's clip of the scale at 100.
    public var temperature: Float { 1 / min(Foundation.exp(contrastive.logit_scale.item), contrastive.maxScale) }

    public func embeddings(_ f: VLPFeatures) -> (image: Tensor, text: Tensor) {
        (visual_projection(f.pooledImage), text_projection(f.pooledText))
    }

    public func terms(_ f: VLPFeatures) -> [String: Tensor] {
        let (zi, zt) = embeddings(f)
        return ["clip_infonce": contrastive(zi, zt)]
    }

    public func epochWillBegin(_ epoch: Int) {}
}
