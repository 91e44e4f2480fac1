import Foundation
import Engine

// Vision Transformer (Dosovitskiy et al., ICLR 2021) with timm's parameter names: patch_embed.proj, cls_token,
// pos_embed, blocks.i.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm, head.

/// A pre-norm transformer block: x + attn(norm1(x)), then + mlp(norm2(x)).
public final class ViTBlock: Module {
    public var norm1: LayerNorm
    public var attn: FusedSelfAttention
    public var drop_path: DropPath
    public var norm2: LayerNorm
    public var mlp: MLP
    /// MONAI 1.4+'s TransformerBlock builds this norm even without cross-attention and never applies it. UNETR keeps
    /// it, frozen at its initial ones and zeros (in MONAI it never gets a gradient, so AdamW never moves it), so that
    /// its parameter count and state dict are MONAI's.
    public var norm_cross_attn: LayerNorm?

    public init(dim: Int, heads: Int, mlpRatio: Float = 4, qkvBias: Bool = true, dropout: Float = 0,
                attentionDropout: Float = 0, dropPath: Float = 0, eps: Float = 1e-6,
                mlpInit: MLP.WeightInit = .linearDefault, unusedCrossAttentionNorm: Bool = false) {
        norm1 = LayerNorm(dim, eps: eps)
        attn = FusedSelfAttention(dim: dim, heads: heads, qkvBias: qkvBias, attentionDropout: attentionDropout,
                                  projectionDropout: dropout)
        drop_path = DropPath(dropPath)
        norm2 = LayerNorm(dim, eps: eps)
        mlp = MLP(dim: dim, hidden: Int(Float(dim) * mlpRatio), activation: .gelu, dropout: dropout, weightInit: mlpInit)
        if unusedCrossAttentionNorm {
            let n = LayerNorm(dim, eps: eps)
            n.freeze()
            norm_cross_attn = n
        }
    }

    public func callAsFunction(_ x: Tensor, keyPaddingMask: Tensor? = nil) -> Tensor {
        let h = x + drop_path(attn(norm1(x), keyPaddingMask: keyPaddingMask).output)
        return h + drop_path(mlp(norm2(h)))
    }
}

/// Patches cut and embedded by one strided convolution: [B, C, H, W] → [B, (H/p)·(W/p), D], row-major patch order.
public final class ViTPatchEmbed: Module {
    public let patch: Int
    public var proj: Conv2d

    public init(patch: Int = 16, inChannels: Int = 3, dim: Int = 768) {
        self.patch = patch
        proj = Conv2d(inChannels, dim, kernelSize: patch, stride: patch)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.shape[2] % patch == 0 && x.shape[3] % patch == 0,
                     "ViT input \(x.shape[2])×\(x.shape[3]) is not a multiple of the patch size \(patch)")
        let y = proj(x)
        return y.reshaped([y.shape[0], y.shape[1], -1]).transposed(1, 2)
    }
}

/// Hyperparameters of a ViT; `base16` is ViT-B/16 (86.6M parameters with the 1000-class head).
public struct ViTConfig {
    public var imageSize = 224
    public var patchSize = 16
    public var inChannels = 3
    public var dim = 768
    public var depth = 12
    public var heads = 12
    public var mlpRatio: Float = 4
    public var qkvBias = true
    public var dropout: Float = 0
    public var attentionDropout: Float = 0
    public var dropPathRate: Float = 0
    public var eps: Float = 1e-6
    /// 0 for an encoder without the classification head.
    public var numClasses = 0

    public init() {}
    public static var base16: ViTConfig { ViTConfig() }
    public static var small16: ViTConfig { var c = ViTConfig(); c.dim = 384; c.heads = 6; return c }
    public static var tiny16: ViTConfig { var c = ViTConfig(); c.dim = 192; c.heads = 3; return c }

    public var gridSize: Int { imageSize / patchSize }
    public var numPatches: Int { gridSize * gridSize }
}

/// ViT encoder: [CLS] + patch tokens with learned absolute positions, pre-norm blocks, final norm, optional head.
public final class VisionTransformer: Module {
    public let config: ViTConfig
    public var patch_embed: ViTPatchEmbed
    /// [1, 1, D]
    public var cls_token: Tensor
    /// [1, 1 + N, D]; position 0 belongs to [CLS].
    public var pos_embed: Tensor
    public var pos_drop: Dropout
    public var blocks: [ViTBlock]
    public var norm: LayerNorm
    public var head: Linear?

    public init(_ config: ViTConfig = .base16) {
        self.config = config
        patch_embed = ViTPatchEmbed(patch: config.patchSize, inChannels: config.inChannels, dim: config.dim)
        cls_token = Tensor(zeros: [1, 1, config.dim], requiresGrad: true)
        pos_embed = Tensor(zeros: [1, 1 + config.numPatches, config.dim], requiresGrad: true)
        pos_drop = Dropout(config.dropout)
        let d = config.depth
        blocks = (0..<d).map { i in
            ViTBlock(dim: config.dim, heads: config.heads, mlpRatio: config.mlpRatio, qkvBias: config.qkvBias,
                     dropout: config.dropout, attentionDropout: config.attentionDropout,
                     dropPath: d > 1 ? config.dropPathRate * Float(i) / Float(d - 1) : 0, eps: config.eps)
        }
        norm = LayerNorm(config.dim, eps: config.eps)
        head = config.numClasses > 0 ? Linear(config.dim, config.numClasses) : nil
        super.init()
        resetFromDefaultStream()
    }

    /// timm's initialisation: truncated-normal positions, tiny [CLS], N(0, 0.02²) Linear weights (its truncation at ±2 lies a hundred standard
    /// deviations out, so a plain normal draw is the same distribution), zero biases.
    public override func resetParameters(_ rng: inout RNG) {
        Init.truncatedNormal(pos_embed, std: 0.02, rng: &rng)
        Init.normal(cls_token, std: 1e-6, rng: &rng)
        for (_, m) in namedModules() {
            if let l = m as? Linear { Init.normal(l.weight, std: 0.02, rng: &rng); l.bias?.fill(0) }
        }
    }

    /// [CLS] and patch tokens with positions added: [B, 1 + N, D].
    public func embed(_ x: Tensor) -> Tensor {
        let patches = patch_embed(x)
        precondition(patches.shape[1] == config.numPatches,
                     "ViT built for \(config.numPatches) patches got \(patches.shape[1]); build it with the input's imageSize")
        let b = patches.shape[0]
        let cls = cls_token.expanded(to: [b, 1, config.dim])
        return pos_drop(Tensor.concat([cls, patches], axis: 1) + pos_embed)
    }

    /// The output of every block, [B, 1 + N, D] each; the last one after `norm`. (UNETR, `Models/UNETR.swift`, taps
    /// the outputs of blocks 4, 7 and 10 counting from 1, MONAI's hidden_states_out[3], [6], [9], and the normalised end.)
    public func hiddenStates(_ x: Tensor) -> [Tensor] {
        var h = embed(x)
        var out: [Tensor] = []
        for b in blocks {
            h = b(h)
            out.append(h)
        }
        out[out.count - 1] = norm(h)
        return out
    }

    /// Patch tokens of a hidden state as a feature map [B, D, H/p, W/p] (drops [CLS]).
    public func featureMap(_ hidden: Tensor) -> Tensor {
        let g = config.gridSize
        return hidden.slice(axis: 1, 1, hidden.shape[1]).transposed(1, 2).reshaped([hidden.shape[0], config.dim, g, g])
    }

    /// Logits from [CLS] when there is a head, otherwise the normalised [CLS] feature [B, D].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let last = hiddenStates(x).last!
        let cls = last.slice(axis: 1, 0, 1).squeezed(1)
        return head.map { $0(cls) } ?? cls
    }
}
