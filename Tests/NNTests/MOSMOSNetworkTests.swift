import XCTest
import Engine
import NN
@testable import Models

/// MOSMOS's two fine-tuning networks against the references they follow: MONAI's UNETR and a ResNet-50 U-Net with
/// segmentation_models_pytorch's decoder (counts from MONAI 1.6.1 and bench/torch_bench.py's ResNetUNet).
final class MOSMOSNetworkTests: XCTestCase {
    /// MONAI 1.6.1's counts (scripts/golden/unetr_counts.py), exactly: the paper's BTCV model, the benchmark's and
    /// MOSMOS's proxy models (BTCV, MMWHS, four-channel BRATS at 32³).
    func testUNETRParameterCountIsMONAIs() {
        func c(_ inC: Int, _ outC: Int, _ size: Int) -> UNETRConfig {
            UNETRConfig(inChannels: inC, outChannels: outC, imageSize: size, featureSize: 8, hiddenSize: 192, mlpDim: 768, heads: 3)
        }
        for (config, monai) in [(UNETRConfig.paper, 92_802_478), (UNETRConfig.benchmark(imageSize: 48), 6_968_926),
                                (c(1, 14, 32), 6_965_278), (c(1, 8, 32), 6_965_224), (c(4, 4, 32), 9_325_156)] {
            XCTAssertEqual(UNETR(config).parameterCount, monai, "\(config)")
        }
    }

    func testUNETRMapsAVolumeToPerVoxelLogitsAndTrainsEveryPart() {
        var c = UNETRConfig.benchmark(imageSize: 32)
        c.hiddenSize = 24; c.mlpDim = 48; c.heads = 2; c.featureSize = 4; c.outChannels = 3
        let model = UNETR(c)
        model.initialize(seed: 1)
        var rng = RNG(seed: 2)
        let x = Tensor.randn([2, 1, 32, 32, 32], rng: &rng)
        let y = model(x)
        XCTAssertEqual(y.shape, [2, 3, 32, 32, 32])
        Loss.crossEntropy(y, (0..<(2 * 32 * 32 * 32)).map { $0 % 3 }).backward()
        for (name, p) in model.namedParameters() where p.requiresGrad {
            XCTAssertNotNil(p.grad, "\(name) gets no gradient")
            XCTAssertTrue(p.grad?.array.allSatisfy(\.isFinite) ?? false, name)
        }
    }

    func testResNet50UNetMatchesTheReferenceCountAndShape() {
        let model = ResNetUNet()
        XCTAssertEqual(model.parameterCount, 32_516_718)
        var rng = RNG(seed: 3)
        let y = withoutGrad { model(Tensor.randn([1, 1, 64, 64], rng: &rng)) }
        XCTAssertEqual(y.shape, [1, 14, 64, 64])
    }
}
