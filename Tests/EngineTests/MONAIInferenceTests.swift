import XCTest
import Foundation
@testable import Engine
@testable import NN

/// Sliding-window inference and UNETR's DiceCE loss against MONAI 1.6 (scripts/golden/monai_fixtures.py).
final class MONAIInferenceTests: XCTestCase {
    /// The fixture's stand-in network: y_k = tanh(0.3·(k + 1)·Σ_c x_c) + 0.1·k·mean(window), per window.
    func network(_ x: Tensor) -> Tensor {
        let s = x.sum(axes: [1], keepDim: true)
        let perWindow = x.count / x.shape[0]
        let means = (0..<x.shape[0]).map { b in (0..<perWindow).reduce(Float(0)) { $0 + x.ptr[b * perWindow + $1] } / Float(perWindow) }
        let m = Tensor(means, shape: [x.shape[0]] + [Int](repeating: 1, count: x.rank - 1))
        var outputs: [Tensor] = []
        for k in 0..<3 {
            let a = Float(0.3) * Float(k + 1), b = Float(0.1) * Float(k)
            outputs.append((s * a).tanh() + m * b)
        }
        return Tensor.concat(outputs, axis: 1)
    }

    func testSlidingWindowMatchesMONAI() {
        let f = Fixture.load("monai_inference")
        var checked = 0
        for name in f.caseNames where f.case(name).has("roi") {
            let c = f.case(name)
            let window = SlidingWindow(roi: c.ints("roi"), overlap: c.double("overlap"),
                                       blending: c.string("mode") == "gaussian" ? .gaussian : .constant, batch: c.int("batch"))
            let y = window(c.tensor("x"), network)
            assertClose(y, c.tensor("y"), atol: 2e-5, rtol: 1e-4, name)
            checked += 1
        }
        XCTAssertEqual(checked, 4)
    }

    func testWindowPlacementAsMONAIPlacesThem() {
        // 11 voxels, roi 5, overlap 0.25: interval 3, windows at 0, 3, 6 (the last one moved back to end at 11).
        XCTAssertEqual(SlidingWindow(roi: [5], overlap: 0.25).starts(size: [11]), [[0, 3, 6]])
        XCTAssertEqual(SlidingWindow(roi: [4], overlap: 0.5).starts(size: [4]), [[0]])
        XCTAssertEqual(SlidingWindow(roi: [3], overlap: 0.9).starts(size: [5]), [[0, 1, 2]], "an interval of 0 becomes 1")
        let g = SlidingWindow(roi: [3, 4], blending: .gaussian).importance
        XCTAssertEqual(g.count, 12)
        XCTAssertEqual(g.max()!, Foundation.exp(-0.25 / (2 * 0.5 * 0.5)), accuracy: 1e-6, "centre of an even axis is half a voxel off")
    }

    func testUNETRDiceCEMatchesMONAI() {
        let c = Fixture.load("monai_inference").case("unetr_btcv")
        let logits = c.tensor("logits", requiresGrad: true)
        let loss = Loss.unetrDiceCE(logits, c.indices("labels"))
        assertClose(loss, c.tensor("loss"), atol: 1e-6, rtol: 1e-5, "loss")
        loss.backward()
        assertClose(logits.grad!, c.tensor("grad_logits"), atol: 1e-6, rtol: 1e-4, "gradient")
    }
}
