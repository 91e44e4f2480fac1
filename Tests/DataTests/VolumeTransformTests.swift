import XCTest
import Foundation
@testable import Data

/// UNETR's deterministic preprocessing (orientation, resampling to a spacing, intensity window, foreground crop) and
/// the BRATS z-score against MONAI 1.6 (scripts/golden/volume_fixtures.py).
final class VolumeTransformTests: XCTestCase {
    struct Array3: Decodable { let shape: [Int]; let values: [Double] }
    struct Case: Decodable {
        let transform: String
        let input: Array3, output: Array3
        let affine: [Double]?, output_affine: [Double]?
        let interpolation: String?, spacing: [Double]?
    }

    func testTransformsMatchMONAI() throws {
        let cases = try JSONDecoder().decode([String: Case].self, from: Foundation.Data(contentsOf: fixture("transforms.json")))
        XCTAssertEqual(cases.count, 10)
        for (name, c) in cases.sorted(by: { $0.key < $1.key }) {
            let v = Volume(shape: c.input.shape, values: c.input.values.map(Float.init), spacing: [1, 1, 1], affine: c.affine)
            let out: Volume
            switch c.transform {
            case "orientRAS": out = VolumeTransforms.orientRAS(v)
            case "scaleIntensityRange": out = VolumeTransforms.scaleIntensityRange(v, aMin: -175, aMax: 250)
            case "cropForeground": out = VolumeTransforms.crop(v, try XCTUnwrap(VolumeTransforms.foregroundBox(v)))
            case "normalizeNonzeroChannelwise": out = VolumeTransforms.normalizeNonzeroChannelwise(v)
            case "resample":
                out = VolumeTransforms.resample(v, spacing: c.spacing!, interpolation: c.interpolation == "nearest" ? .nearest : .linear)
            default: XCTFail("unknown transform \(c.transform)"); continue
            }
            XCTAssertEqual(out.shape, c.output.shape, name)
            for (i, (a, b)) in zip(out.values, c.output.values).enumerated() {
                XCTAssertEqual(Double(a), b, accuracy: 1e-5 * max(1, abs(b)), "\(name) voxel \(i)")
            }
            if let expected = c.output_affine {
                for (a, b) in zip(out.affine, expected) { XCTAssertEqual(a, b, accuracy: 1e-6, "\(name) affine") }
                XCTAssertEqual(out.orientation, name.hasPrefix("orient") ? "RAS" : v.orientation, name)
            }
        }
    }

    func testOrientationKeepsEveryVoxelInPlace() {
        // A voxel's world position is affine · index before and after.
        let affine: [Double] = [0, 0, -2, 10, -1.5, 0, 0, 5, 0, 1.2, 0, -3, 0, 0, 0, 1]
        let v = Volume(shape: [4, 3, 5], values: (0..<60).map(Float.init), spacing: [1.5, 1.2, 2], affine: affine)
        let r = VolumeTransforms.orientRAS(v)
        func world(_ a: [Double], _ i: [Int]) -> [Double] { VolumeTransforms.world(a, i.map(Double.init)) }
        for o in 0..<60 {
            let io = [o % r.shape[0], (o / r.shape[0]) % r.shape[1], o / (r.shape[0] * r.shape[1])]
            let k = Int(r.values[o])
            let ii = [k % 4, (k / 4) % 3, k / 12]
            XCTAssertEqual(world(r.affine, io), world(affine, ii))
        }
        XCTAssertEqual(r.spacing, [2, 1.5, 1.2])
    }
}
