import Engine
import NN

/// One row of UNet++'s grid: the nodes X(i, 0…depth−i) at one resolution.
public final class NestedRow: Module {
    public var nodes: [Sequential]
    init(_ nodes: [Sequential]) { self.nodes = nodes }
}

/// UNet++ (Zhou et al., DLMIA 2018): the skips of a U-Net replaced by nested, densely connected convolution
/// nodes. Node X(i, j) at depth i and column j takes all earlier nodes of its row and the upsampled node
/// X(i+1, j−1):  X(i, j) = conv([X(i, 0), …, X(i, j−1), up(X(i+1, j−1))]).
///
/// Every node is two Conv-BN-ReLU; upsampling is bilinear with aligned corners; filters 32…512 as in the paper
/// (the PyTorch NestedUNet of 4uiiurz1/pytorch-nested-unet has 9,163,329 parameters for 3 → 1 without deep
/// supervision). With deep supervision the four top nodes X(0, 1…4) each get a 1×1 head and the loss is their
/// average; the prediction is the last head, as the reference evaluates.
public final class UNetPlusPlus: Module, SegmentationModel {
    public let config: UNetPlusPlusConfig
    /// rows.i.nodes.j is X(i, j).
    public var rows: [NestedRow]
    /// One head on X(0, depth), or with deep supervision one per top node X(0, 1…depth).
    public var heads: [Conv2d]

    public init(config: UNetPlusPlusConfig, inChannels: Int) {
        self.config = config
        let d = config.depth
        let c = (0...d).map { config.base << $0 }
        rows = (0...d).map { i in
            NestedRow((0...(d - i)).map { j in
                j == 0 ? convStack(i == 0 ? inChannels : c[i - 1], c[i]) : convStack(c[i] * j + c[i + 1], c[i])
            })
        }
        heads = (0..<(config.deepSupervision ? d : 1)).map { _ in Conv2d(c[0], 1, kernelSize: 1) }
    }

    public func forward(image: Tensor, text: TextInput?) -> SegOutput {
        let d = config.depth
        requireDivisible(image, by: d, model: "UNet++")
        var x: [[Tensor]] = Array(repeating: [], count: d + 1)
        // Column by column along the backbone, as the network's anti-diagonals become computable.
        for k in 0...d {
            x[k].append(rows[k].nodes[0](k == 0 ? image : Tensor.maxPool2d(x[k - 1][0], kernel: 2)))
            for j in stride(from: 1, through: k, by: 1) {
                let i = k - j
                let upsampled = Tensor.interpolate(x[i + 1][j - 1], scaleFactor: 2, mode: .linear, alignCorners: true)
                x[i].append(rows[i].nodes[j](catChannels(x[i] + [upsampled])))
            }
        }
        guard config.deepSupervision else { return SegOutput(logits: heads[0](x[0][d])) }
        let outputs = (1...d).map { heads[$0 - 1](x[0][$0]) }
        let weight = 1 / Float(d)
        return SegOutput(logits: outputs[d - 1],
                         deepSupervision: outputs.map { DeepSupervisionTerm(logits: $0, weight: weight) })
    }
}
