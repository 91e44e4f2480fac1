import XCTest
import Foundation
@testable import Data

/// The NIfTI reader against what nibabel reads from the same files (scripts/golden/volume_fixtures.py), the writer
/// by a round trip, and the errors for broken files.
final class NIfTITests: XCTestCase {
    struct Expected: Decodable {
        let shape: [Int], spacing: [Double], affine: [Double], orientation: String, values: [Double]
    }

    func testVolumesReadAsNibabelReadsThem() throws {
        let expected = try JSONDecoder().decode([String: Expected].self,
                                                from: Foundation.Data(contentsOf: fixture("nifti/expected.json")))
        XCTAssertEqual(expected.count, 4)
        for (name, e) in expected.sorted(by: { $0.key < $1.key }) {
            let v = try NIfTI.read(fixture("nifti/" + name))
            XCTAssertEqual(v.shape, e.shape, name)
            XCTAssertEqual(v.orientation, e.orientation, name)
            for (a, b) in zip(v.spacing, e.spacing) { XCTAssertEqual(a, b, accuracy: 1e-6, "\(name) spacing") }
            for (a, b) in zip(v.affine, e.affine) { XCTAssertEqual(a, b, accuracy: 1e-5, "\(name) affine") }
            XCTAssertEqual(v.values.count, e.values.count, name)
            for (a, b) in zip(v.values, e.values) { XCTAssertEqual(Double(a), b, accuracy: 1e-5 * max(1, abs(b)), "\(name) values") }
        }
        // The scaled int16 file: stored integers times 0.5 minus 10, and an LPS sform.
        let ct = try NIfTI.read(fixture("nifti/ct_int16_scaled_lps.nii.gz"))
        XCTAssertEqual(ct.datatype, NIfTI.int16)
        XCTAssertEqual(ct.orientation, "LPS")
        XCTAssertEqual(try NIfTI.read(fixture("nifti/labels_uint8_qform.nii")).spacing, [1.5, 1.5, 2.0])
    }

    func testWrittenVolumesReadBack() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nifti-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let affine: [Double] = [-0.9, 0, 0, 10, 0, 0.9, 0, -5, 0, 0, 3, 2, 0, 0, 0, 1]
        let v = Volume(shape: [4, 3, 2], values: (0..<24).map { Float($0 % 5) }, spacing: [0.9, 0.9, 3], affine: affine,
                       datatype: NIfTI.uint8)
        for name in ["labels.nii", "labels.nii.gz"] {
            let url = dir.appendingPathComponent(name)
            try NIfTI.write(v, to: url)
            let back = try NIfTI.read(url)
            XCTAssertEqual(back.shape, v.shape)
            XCTAssertEqual(back.values, v.values)
            XCTAssertEqual(back.datatype, NIfTI.uint8)
            XCTAssertEqual(back.orientation, "LAS")
            for (a, b) in zip(back.affine, affine) { XCTAssertEqual(a, b, accuracy: 1e-6) }
            for (a, b) in zip(back.spacing, v.spacing) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        }
        XCTAssertEqual(v.rowMajorShape, [2, 3, 4])
        XCTAssertEqual(v.rowMajorSpacing, [3, 0.9, 0.9])
    }

    func testBrokenFilesNameTheFileAndTheFix() {
        for (name, phrase) in [("truncated.nii.gz", "truncated or corrupt"), ("not_nifti.nii", "not a NIfTI"),
                               ("missing.nii.gz", "missing or not readable")] {
            let url = fixture("nifti/" + name)
            XCTAssertThrowsError(try NIfTI.read(url), name) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(url.path), text)
                XCTAssertTrue(text.contains(phrase), text)
                XCTAssertTrue(text.contains("Re-export the volume"), text)
            }
        }
    }

    func testNames() {
        XCTAssertTrue(NIfTI.isNIfTI("img0001.nii.gz") && NIfTI.isNIfTI("A.NII") && !NIfTI.isNIfTI("a.png"))
        XCTAssertEqual(NIfTI.stem("label0001.nii.gz"), "label0001")
        XCTAssertEqual(NIfTI.stem("x.nii"), "x")
    }
}
