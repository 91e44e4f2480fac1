import XCTest
import Foundation
@testable import Metrics

/// Per-class Dice and HD95 against MONAI 1.6 (scripts/golden/volume_fixtures.py): anisotropic spacing, an organ
/// on the volume's border, a distant false positive, holes, a missed organ, an organ absent from the truth, 2D.
final class LabelMapMetricsTests: XCTestCase {
    struct Case: Decodable {
        let shape: [Int], spacing: [Double], classes: [Int32], prediction: [Int32], truth: [Int32]
        let dice: [String: Double?], hd95: [String: Double?]
    }

    func testPerClassDiceAndHD95MatchMONAI() throws {
        let cases = try JSONDecoder().decode([String: Case].self, from: Foundation.Data(contentsOf: fixture("label_metrics.json")))
        XCTAssertEqual(cases.count, 3)
        var undefined = 0
        for (name, c) in cases.sorted(by: { $0.key < $1.key }) {
            let scores = LabelMapMetrics.scores(prediction: c.prediction, truth: c.truth, shape: c.shape, spacing: c.spacing,
                                                classes: c.classes)
            for k in c.classes {
                let s = scores[k]!, key = String(k)
                for (ours, monai, metric) in [(s.dice, c.dice[key]!, "Dice"), (s.hd95, c.hd95[key]!, "HD95")] {
                    if let m = monai {
                        XCTAssertNotNil(ours, "\(name) class \(k) \(metric)")
                        XCTAssertEqual(ours ?? .nan, m, accuracy: 1e-5 * max(1, m), "\(name) class \(k) \(metric)")
                    } else {
                        XCTAssertNil(ours, "\(name) class \(k) \(metric): MONAI gives NaN or infinity")
                        undefined += 1
                    }
                }
            }
        }
        XCTAssertEqual(undefined, 3, "the fixture's undefined cases: an absent truth's Dice and HD95, a missed organ's HD95")
    }

    func testMeansLeaveUndefinedValuesOut() {
        XCTAssertEqual(LabelMapMetrics.mean([0.5, nil, 1.0]), 0.75)
        XCTAssertNil(LabelMapMetrics.mean([nil, nil]))
    }
}
