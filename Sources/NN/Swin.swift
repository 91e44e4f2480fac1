import Foundation
import Engine

// Swin Transformer (Liu et al., ICCV 2021): self-attention inside non-overlapping M×M windows, with every other
// block shifting the windows by M/2 so that information crosses window borders, and patch merging between stages.
// Field names follow Microsoft's reference code (also timm before 0.9): patch_embed.proj/norm,
// layers.i.blocks.j.{norm1, attn.qkv, attn.proj, attn.relative_position_bias_table, norm2, mlp.fc1, mlp.fc2},
// layers.i.downsample.{norm, reduction}, norm, head.
//
// Feature maps inside the network are channels-last, [B, H, W, C]: LayerNorm and the Linear layers act on the last
// axis and windows are cut from contiguous rows.

/// [B, H, W, C] → [B·nW, M·M, C] with windows in row-major order over the grid, tokens row-major inside each.
public func windowPartition(_ x: Tensor, window m: Int) -> Tensor {
    let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    precondition(h % m == 0 && w % m == 0, "windowPartition: \(h)×\(w) is not a multiple of window \(m)")
    return x.reshaped([b, h / m, m, w / m, m, c]).permuted([0, 1, 3, 2, 4, 5]).reshaped([b * (h / m) * (w / m), m * m, c])
}

/// [B·nW, M·M, C] → [B, H, W, C], the inverse of `windowPartition`.
public func windowReverse(_ windows: Tensor, window m: Int, height h: Int, width w: Int) -> Tensor {
    let c = windows.shape[2]
    let b = windows.shape[0] / ((h / m) * (w / m))
    return windows.reshaped([b, h / m, w / m, m, m, c]).permuted([0, 1, 3, 2, 4, 5]).reshaped([b, h, w, c])
}

/// For every pair of tokens (i, j) of an M×M window, the index of their offset (Δrow, Δcol) in the
/// (2M−1)² bias table: (Δrow + M − 1)·(2M − 1) + Δcol + M − 1. Shape [M², M²].
public func relativePositionIndex(window m: Int) -> Tensor {
    let n = m * m
    let out = Tensor(zeros: [n, n])
    for i in 0..<n {
        for j in 0..<n {
            let dr = i / m - j / m + m - 1, dc = i % m - j % m + m - 1
            out.ptr[i * n + j] = Float(dr * (2 * m - 1) + dc)
        }
    }
    return out
}

/// Additive mask [nW, M², M²] for shifted windows on an H×W grid: after the cyclic shift, a window can hold tokens
/// from up to four regions that were not adjacent in the image; pairs from different regions get −100
/// (the reference's value: exp(−100) is zero in Float32 while staying finite).
public func shiftedWindowMask(height h: Int, width w: Int, window m: Int, shift s: Int) -> Tensor {
    // Region label of each pixel: three bands per axis, [0, H−M), [H−M, H−s), [H−s, H).
    func band(_ i: Int, _ n: Int) -> Int { i < n - m ? 0 : (i < n - s ? 1 : 2) }
    let nw = (h / m) * (w / m), n = m * m
    let out = Tensor(zeros: [nw, n, n])
    var labels = [Int](repeating: 0, count: n)
    for wi in 0..<nw {
        let (r0, c0) = ((wi / (w / m)) * m, (wi % (w / m)) * m)
        for t in 0..<n { labels[t] = band(r0 + t / m, h) * 3 + band(c0 + t % m, w) }
        let o = out.ptr + wi * n * n
        for i in 0..<n { for j in 0..<n where labels[i] != labels[j] { o[i * n + j] = -100 } }
    }
    return out
}

/// Multi-head self-attention inside windows with a learned relative position bias per head.
public final class WindowAttention: Module {
    public let dim: Int
    public let heads: Int
    public let window: Int
    public var qkv: Linear
    public var proj: Linear
    /// [(2M−1)², heads]: one bias per relative offset and head.
    public var relative_position_bias_table: Tensor
    /// [M², M²] table rows for each token pair; a buffer so that checkpoints carrying it load.
    public var relative_position_index: Buffer
    public var attn_drop: Dropout
    public var proj_drop: Dropout

    public init(dim: Int, window: Int, heads: Int, qkvBias: Bool = true, attentionDropout: Float = 0, dropout: Float = 0) {
        precondition(dim % heads == 0, "dim \(dim) is not divisible by \(heads) heads")
        self.dim = dim
        self.heads = heads
        self.window = window
        qkv = Linear(dim, 3 * dim, bias: qkvBias)
        proj = Linear(dim, dim)
        relative_position_bias_table = Tensor(zeros: [(2 * window - 1) * (2 * window - 1), heads], requiresGrad: true)
        relative_position_index = Buffer(relativePositionIndex(window: window))
        attn_drop = Dropout(attentionDropout)
        proj_drop = Dropout(dropout)
        super.init()
        resetFromDefaultStream()
    }

    public override func resetParameters(_ rng: inout RNG) {
        Init.truncatedNormal(relative_position_bias_table, std: 0.02, rng: &rng)
    }

    /// Bias [heads, N, N] gathered from the table, differentiable with respect to the table.
    public func relativePositionBias() -> Tensor {
        let n = window * window
        let idx = (0..<(n * n)).map { Int(relative_position_index.value.ptr[$0]) }
        return relative_position_bias_table.indexSelect(axis: 0, idx).reshaped([n, n, heads]).permuted([2, 0, 1])
    }

    /// - Parameters:
    ///   - x: windows [B·nW, N, C] with N = M².
    ///   - mask: additive [nW, N, N] shared by the B images (shifted windows), or nil.
    public func callAsFunction(_ x: Tensor, mask: Tensor? = nil) -> Tensor {
        let (bw, n) = (x.shape[0], x.shape[1])
        var (q, k, v) = splitFusedQKV(qkv(x), heads: heads)
        var bias = relativePositionBias()
        if let m = mask {
            // Expose the window index as its own axis so the [nW, 1, N, N] mask broadcasts over images and heads.
            let nw = m.shape[0], shape5 = [bw / nw, nw, heads, n, dim / heads]
            (q, k, v) = (q.reshaped(shape5), k.reshaped(shape5), v.reshaped(shape5))
            bias = bias + m.reshaped([nw, 1, n, n])
        }
        let (ctx, _) = scaledDotProductAttention(q, k, v, bias: bias, dropout: attn_drop)
        return proj_drop(proj(mergeHeads(ctx.reshaped([bw, heads, n, dim / heads]))))
    }
}

/// One Swin block: (shifted) window attention and an MLP, each pre-normed with a residual connection.
public final class SwinBlock: Module {
    public let dim: Int
    public let heads: Int
    public let window: Int
    public let shift: Int
    public var norm1: LayerNorm
    public var attn: WindowAttention
    public var drop_path: DropPath
    public var norm2: LayerNorm
    public var mlp: MLP
    /// Shift masks depend only on the padded grid size; computed once per size.
    private var maskCache: [[Int]: Tensor] = [:]

    /// `resolution` is the token grid the block is built for. As in the reference, a grid no larger than the
    /// window shrinks the window to the grid and disables shifting (one window sees everything).
    public init(dim: Int, resolution: (Int, Int), heads: Int, window: Int = 7, shift: Int = 0, mlpRatio: Float = 4,
                qkvBias: Bool = true, dropout: Float = 0, attentionDropout: Float = 0, dropPath: Float = 0) {
        let side = min(resolution.0, resolution.1)
        let (m, s) = side <= window ? (side, 0) : (window, shift)
        precondition(s >= 0 && s < m, "shift \(s) must lie in [0, window \(m))")
        self.dim = dim
        self.heads = heads
        self.window = m
        self.shift = s
        norm1 = LayerNorm(dim)
        attn = WindowAttention(dim: dim, window: m, heads: heads, qkvBias: qkvBias, attentionDropout: attentionDropout,
                               dropout: dropout)
        drop_path = DropPath(dropPath)
        norm2 = LayerNorm(dim)
        mlp = MLP(dim: dim, hidden: Int(Float(dim) * mlpRatio), activation: .gelu, dropout: dropout)
    }

    private func mask(height h: Int, width w: Int) -> Tensor? {
        guard shift > 0 else { return nil }
        if let m = maskCache[[h, w]] { return m }
        let m = shiftedWindowMask(height: h, width: w, window: window, shift: shift)
        maskCache[[h, w]] = m
        return m
    }

    /// x: [B, H, W, C] → [B, H, W, C]. Grids that are not a multiple of the window are zero-padded at the
    /// bottom/right for the attention and cropped back (as in the detection/segmentation variant).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (h, w) = (x.shape[1], x.shape[2])
        let (ph, pw) = ((window - h % window) % window, (window - w % window) % window)
        var y = norm1(x)
        if ph > 0 || pw > 0 { y = y.padded([(0, ph), (0, pw), (0, 0)]) }
        let (hp, wp) = (h + ph, w + pw)
        if shift > 0 { y = y.rolled(-shift, axis: 1).rolled(-shift, axis: 2) }
        let windows = attn(windowPartition(y, window: window), mask: mask(height: hp, width: wp))
        y = windowReverse(windows, window: window, height: hp, width: wp)
        if shift > 0 { y = y.rolled(shift, axis: 1).rolled(shift, axis: 2) }
        if ph > 0 || pw > 0 { y = y.slice(axis: 1, 0, h).slice(axis: 2, 0, w) }
        let h1 = x + drop_path(y)
        return h1 + drop_path(mlp(norm2(h1)))
    }
}

/// Non-overlapping p×p patches embedded by a strided convolution, then LayerNorm: [B, Cin, H, W] → [B, H/p, W/p, C].
public final class PatchEmbed: Module {
    public let patch: Int
    public var proj: Conv2d
    public var norm: LayerNorm?

    public init(patch: Int = 4, inChannels: Int = 3, dim: Int = 96, norm: Bool = true) {
        self.patch = patch
        proj = Conv2d(inChannels, dim, kernelSize: patch, stride: patch)
        self.norm = norm ? LayerNorm(dim) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (h, w) = (x.shape[2], x.shape[3])
        let (ph, pw) = ((patch - h % patch) % patch, (patch - w % patch) % patch)
        let input = ph > 0 || pw > 0 ? x.padded([(0, ph), (0, pw)]) : x
        let y = proj(input).permuted([0, 2, 3, 1])
        return norm.map { $0(y) } ?? y
    }
}

/// Halves the grid and doubles the channels: each 2×2 neighbourhood is concatenated (4C), normalised and
/// projected to 2C without bias. Concatenation order (0,0), (1,0), (0,1), (1,1) in (row, col) as in the reference,
/// which pretrained `reduction` weights depend on.
public final class PatchMerging: Module {
    public let dim: Int
    public var norm: LayerNorm
    public var reduction: Linear

    public init(dim: Int) {
        self.dim = dim
        norm = LayerNorm(4 * dim)
        reduction = Linear(4 * dim, 2 * dim, bias: false)
    }

    /// [B, H, W, C] → [B, ⌈H/2⌉, ⌈W/2⌉, 2C] (odd sizes are zero-padded).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var y = x
        if x.shape[1] % 2 == 1 || x.shape[2] % 2 == 1 { y = y.padded([(0, x.shape[1] % 2), (0, x.shape[2] % 2), (0, 0)]) }
        let (b, h, w, c) = (y.shape[0], y.shape[1] / 2, y.shape[2] / 2, y.shape[3])
        // [B, H/2, 2(row), W/2, 2(col), C] → [B, H/2, W/2, col, row, C]: row parity varies fastest, giving the order above.
        let merged = y.reshaped([b, h, 2, w, 2, c]).permuted([0, 1, 3, 4, 2, 5]).reshaped([b, h, w, 4 * c])
        return reduction(norm(merged))
    }
}

/// One resolution of the hierarchy: `depth` blocks alternating plain and shifted windows, then an optional
/// patch merging (the reference's `BasicLayer`).
public final class SwinStage: Module {
    public var blocks: [SwinBlock]
    public var downsample: PatchMerging?

    public init(dim: Int, resolution: (Int, Int), depth: Int, heads: Int, window: Int = 7, mlpRatio: Float = 4,
                qkvBias: Bool = true, dropout: Float = 0, attentionDropout: Float = 0, dropPath: [Float]? = nil,
                downsample: Bool = true) {
        blocks = (0..<depth).map { i in
            SwinBlock(dim: dim, resolution: resolution, heads: heads, window: window, shift: i % 2 == 0 ? 0 : window / 2,
                      mlpRatio: mlpRatio, qkvBias: qkvBias, dropout: dropout, attentionDropout: attentionDropout,
                      dropPath: dropPath?[i] ?? 0)
        }
        self.downsample = downsample ? PatchMerging(dim: dim) : nil
    }

    /// The stage's features before merging ([B, H, W, C]) and the merged input of the next stage.
    public func callAsFunction(_ x: Tensor) -> (features: Tensor, next: Tensor) {
        let f = blocks.reduce(x) { $1($0) }
        return (f, downsample.map { $0(f) } ?? f)
    }
}

/// Hyperparameters of a Swin encoder. `tiny` is Swin-T (28.3M parameters with the ImageNet head).
public struct SwinConfig {
    public var imageSize = 224
    public var patchSize = 4
    public var inChannels = 3
    public var embedDim = 96
    public var depths = [2, 2, 6, 2]
    public var heads = [3, 6, 12, 24]
    public var window = 7
    public var mlpRatio: Float = 4
    public var qkvBias = true
    public var dropout: Float = 0
    public var attentionDropout: Float = 0
    public var dropPathRate: Float = 0.2
    /// 0 for a pure feature extractor without the classification head.
    public var numClasses = 0

    public init() {}
    public static var tiny: SwinConfig { SwinConfig() }
    public static var small: SwinConfig { var c = SwinConfig(); c.depths = [2, 2, 18, 2]; c.dropPathRate = 0.3; return c }
    public static var base: SwinConfig {
        var c = SwinConfig(); c.embedDim = 128; c.depths = [2, 2, 18, 2]; c.heads = [4, 8, 16, 32]; c.dropPathRate = 0.5
        return c
    }
}

/// The hierarchical Swin encoder; `features` returns every stage's output for U-shaped decoders.
public final class SwinEncoder: Module {
    public let config: SwinConfig
    public var patch_embed: PatchEmbed
    public var pos_drop: Dropout
    public var layers: [SwinStage]
    /// Applied to the last stage's features, as in the reference before pooling.
    public var norm: LayerNorm
    public var head: Linear?

    public init(_ config: SwinConfig = .tiny) {
        self.config = config
        patch_embed = PatchEmbed(patch: config.patchSize, inChannels: config.inChannels, dim: config.embedDim)
        pos_drop = Dropout(config.dropout)
        let total = config.depths.reduce(0, +)
        // Stochastic depth grows linearly from 0 to dropPathRate over all blocks of all stages.
        let rates = (0..<total).map { total > 1 ? config.dropPathRate * Float($0) / Float(total - 1) : 0 }
        var grid = ((config.imageSize + config.patchSize - 1) / config.patchSize,
                    (config.imageSize + config.patchSize - 1) / config.patchSize)
        var stages: [SwinStage] = []
        var first = 0
        for (i, depth) in config.depths.enumerated() {
            stages.append(SwinStage(dim: config.embedDim << i, resolution: grid, depth: depth, heads: config.heads[i],
                                    window: config.window, mlpRatio: config.mlpRatio, qkvBias: config.qkvBias,
                                    dropout: config.dropout, attentionDropout: config.attentionDropout,
                                    dropPath: Array(rates[first..<(first + depth)]), downsample: i < config.depths.count - 1))
            first += depth
            grid = ((grid.0 + 1) / 2, (grid.1 + 1) / 2)
        }
        layers = stages
        let width = config.embedDim << (config.depths.count - 1)
        norm = LayerNorm(width)
        head = config.numClasses > 0 ? Linear(width, config.numClasses) : nil
        super.init()
        resetFromDefaultStream()
    }

    /// The reference's trunc_normal_(std=0.02) cuts at ±2, a hundred standard deviations out, so a plain normal
    /// draw is the same distribution at a fraction of the cost.
    public override func resetParameters(_ rng: inout RNG) {
        for (_, m) in namedModules() {
            if let l = m as? Linear { Init.normal(l.weight, std: 0.02, rng: &rng); l.bias?.fill(0) }
        }
    }

    /// Channel widths of the stage features, C·2^i.
    public var stageChannels: [Int] { (0..<config.depths.count).map { config.embedDim << $0 } }

    /// Every stage's features as [B, C·2^i, H/(p·2^i), W/(p·2^i)] (channels-first for convolutional decoders);
    /// the last one after the final norm.
    public func features(_ x: Tensor) -> [Tensor] {
        var h = pos_drop(patch_embed(x))
        var out: [Tensor] = []
        for (i, stage) in layers.enumerated() {
            let (f, next) = stage(h)
            out.append((i == layers.count - 1 ? norm(f) : f).permuted([0, 3, 1, 2]))
            h = next
        }
        return out
    }

    /// Class logits from the average-pooled last stage (needs `numClasses > 0`).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard let head else { preconditionFailure("SwinEncoder was built without a classification head (numClasses = 0)") }
        let last = features(x).last!
        return head(last.mean(axes: [2, 3]))
    }

    /// Loads a Microsoft-layout state dict. Shift masks (`attn_mask`) are recomputed for the input size and are
    /// skipped, as is a classification head this encoder does not have.
    public func loadPretrained(_ state: [String: Tensor]) throws {
        var d = state.filter { !$0.key.hasSuffix(".attn_mask") }
        if head == nil { d = d.filter { !$0.key.hasPrefix("head.") } }
        try loadStateDict(d)
    }
}
