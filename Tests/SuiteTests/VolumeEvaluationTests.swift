import XCTest
import Foundation
import Data
import Metrics
@testable import Suite

/// `repro evaluate` on NIfTI label volumes: values worked out by hand, the JSON the issue specifies, and one error
/// per kind of bad input.
final class VolumeEvaluationTests: XCTestCase {
    /// A 6×5×4 volume (x, y, z) with spacing 2 × 1 × 1 mm holding a 2×2×2 cube of `label` at x = `x0`.
    func cube(label: Float, x0: Int, extra: (Int, Float)? = nil) -> Volume {
        var values = [Float](repeating: 0, count: 6 * 5 * 4)
        for z in 1...2 { for y in 1...2 { for x in x0...(x0 + 1) { values[x + 6 * (y + 5 * z)] = label } } }
        if let (i, v) = extra { values[i] = v }
        return Volume(shape: [6, 5, 4], values: values, spacing: [2, 1, 1], datatype: NIfTI.uint8)
    }

    func folders(_ truths: [String: Volume], _ predictions: [String: Volume]) throws -> (URL, URL) {
        let dir = try makeTemporaryDirectory(self)
        let t = dir.appendingPathComponent("gt"), p = dir.appendingPathComponent("pred")
        for (d, vs) in [(t, truths), (p, predictions)] {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            for (name, v) in vs { try NIfTI.write(v, to: d.appendingPathComponent(name)) }
        }
        return (p, t)
    }

    /// A label volume stored with a trailing channel axis of 1 (as some tools save them) scores as the 3D one.
    func testTrailingUnitChannelAxis() throws {
        var t = cube(label: 1, x0: 1), p = cube(label: 1, x0: 2)
        t.shape = [6, 5, 4, 1]; p.shape = [6, 5, 4, 1]
        let (pred, truth) = try folders(["a.nii": t], ["a.nii": p])
        XCTAssertEqual(try VolumeEvaluation.run(predictions: pred, truths: truth).cases[0].classes[1],
                       LabelMapMetrics.ClassScore(dice: 0.5, hd95: 2))
    }

    func testScoresByHand() throws {
        // Case a: the prediction is the cube moved one voxel (2 mm) along x: 4 of 8 voxels shared, Dice 0.5; every
        // voxel of a 2-voxel-thick cube is an edge, half of each side's are 0 mm from the other side, half 2 mm,
        // so both directed 95th percentiles are 2 mm. Case b: a perfect prediction, with one voxel of class 2 in
        // both, so class 2 is scored; case a has none of it, which leaves both its values undefined.
        let (p, t) = try folders(["a.nii.gz": cube(label: 1, x0: 1), "b.nii": cube(label: 1, x0: 3, extra: (0, 2))],
                                 ["a.nii": cube(label: 1, x0: 2), "b.nii.gz": cube(label: 1, x0: 3, extra: (0, 2))])
        let r = try VolumeEvaluation.run(predictions: p, truths: t)
        XCTAssertEqual(r.classes, [1, 2])
        XCTAssertEqual(r.cases.map(\.name), ["a", "b"])
        XCTAssertEqual(r.cases[0].classes[1], LabelMapMetrics.ClassScore(dice: 0.5, hd95: 2))
        XCTAssertEqual(r.cases[1].classes[1], LabelMapMetrics.ClassScore(dice: 1, hd95: 0))
        XCTAssertEqual(r.cases[0].classes[2], LabelMapMetrics.ClassScore(dice: nil, hd95: nil))
        XCTAssertEqual(r.mean[1], LabelMapMetrics.ClassScore(dice: 0.75, hd95: 1))
        XCTAssertEqual(r.mean[2], LabelMapMetrics.ClassScore(dice: 1, hd95: 0), "undefined values are left out of means")

        let doc = try JSONSerialization.jsonObject(with: Foundation.Data(r.json().utf8)) as! [String: Any]
        let cases = doc["cases"] as! [[String: Any]]
        XCTAssertEqual(cases.map { $0["case"] as! String }, ["a", "b"])
        let a = (cases[0]["classes"] as! [String: [String: Any]])
        XCTAssertEqual(a["1"]?["Dice"] as? Double, 0.5)
        XCTAssertEqual(a["1"]?["HD95"] as? Double, 2)
        XCTAssertTrue(a["2"]?["Dice"] is NSNull && a["2"]?["HD95"] is NSNull, "undefined values are null")
        XCTAssertEqual((doc["mean"] as! [String: [String: Any]])["1"]?["Dice"] as? Double, 0.75)
        XCTAssertTrue(r.csv().contains("a,1,0.5000,2.0000"), r.csv())
    }

    func testBadInputGetsOneErrorNamingTheFileAndTheFix() throws {
        func expectError(_ truths: [String: Volume], _ predictions: [String: Volume], classes: [Int32]? = nil,
                         _ phrases: [String], line: UInt = #line) throws {
            let (p, t) = try folders(truths, predictions)
            XCTAssertThrowsError(try VolumeEvaluation.run(predictions: p, truths: t, classes: classes), line: line) { e in
                for phrase in phrases { XCTAssertTrue("\(e)".contains(phrase), "\(e) lacks \(phrase)", line: line) }
            }
        }
        try expectError(["a.nii": cube(label: 1, x0: 1)], ["b.nii": cube(label: 1, x0: 1)], ["no prediction for", "a.nii"])
        var small = cube(label: 1, x0: 1)
        small.shape = [6, 5, 2]; small.values = Array(small.values.prefix(60))
        try expectError(["a.nii": cube(label: 1, x0: 1)], ["a.nii": small], ["shape [6, 5, 2]", "ground truth's grid"])
        var moved = cube(label: 1, x0: 1)
        moved.affine[3] = 5
        try expectError(["a.nii": cube(label: 1, x0: 1)], ["a.nii": moved], ["affines", "ground truth's header"])
        var soft = cube(label: 1, x0: 1)
        soft.datatype = NIfTI.float32; soft.values[7] = 0.4
        try expectError(["a.nii": cube(label: 1, x0: 1)], ["a.nii": soft], ["0.4", "not a label", "integer values"])
        try expectError(["a.nii": cube(label: 3, x0: 1)], ["a.nii": cube(label: 3, x0: 1)], classes: [1, 2],
                        ["label 3", "--classes"])
        var twoChannels = cube(label: 1, x0: 1)
        twoChannels.shape = [6, 5, 2, 2]
        try expectError(["a.nii": twoChannels], ["a.nii": twoChannels], ["three dimensions"])
    }

    /// The command itself: JSON on stdout, and a corrupt volume ends it with status 1 and the reader's message.
    func testReproEvaluateCommand() throws {
        let exe = EndToEndTests.binDir.appendingPathComponent("repro")
        guard FileManager.default.fileExists(atPath: exe.path) else { throw XCTSkip("repro not built next to the tests") }
        func repro(_ args: [String]) throws -> (Int32, String) {
            try runProcess(exe, args, in: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        }
        let (p, t) = try folders(["a.nii.gz": cube(label: 1, x0: 1)], ["a.nii.gz": cube(label: 1, x0: 2)])
        let (status, text) = try repro(["evaluate", "--pred", p.path, "--gt", t.path, "--format", "json"])
        XCTAssertEqual(status, 0, text)
        let doc = try JSONSerialization.jsonObject(with: Foundation.Data(text.utf8)) as? [String: Any]
        let mean = doc?["mean"] as? [String: [String: Double]]
        XCTAssertEqual(mean?["1"]?["Dice"], 0.5)
        XCTAssertEqual(mean?["1"]?["HD95"], 2)
        try Foundation.Data("not a volume".utf8).write(to: p.appendingPathComponent("a.nii.gz"))
        let (bad, message) = try repro(["evaluate", "--pred", p.path, "--gt", t.path])
        XCTAssertEqual(bad, 1)
        XCTAssertTrue(message.contains(p.appendingPathComponent("a.nii.gz").path) && message.contains("Re-export"), message)
    }
}
