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

    /// The chain as UNETR's BTCV code composes it, on an L-P-S volume with air around the body: the order matters
    /// (the crop sees windowed intensities, the label follows the image's grid through every step).
    func testUNETRPreprocessingChainMatchesMONAI() throws {
        struct Pipeline: Decodable {
            let shape: [Int], affine: [Double], image: [Double], label: [Double]
            let output_shape: [Int], output_image: [Double], output_label: [Double], output_affine: [Double]
        }
        let p = try JSONDecoder().decode(Pipeline.self, from: Foundation.Data(contentsOf: fixture("pipeline.json")))
        let image = Volume(shape: p.shape, values: p.image.map(Float.init), spacing: [0.9, 1.1, 2.6], affine: p.affine)
        let (im, lb) = VolumePreprocessing.unetrCT.apply(image: image, label: p.label.map { Int32($0) })
        XCTAssertEqual(im.shape, p.output_shape)
        for (i, (a, b)) in zip(im.values, p.output_image).enumerated() { XCTAssertEqual(Double(a), b, accuracy: 1e-5, "voxel \(i)") }
        XCTAssertEqual(try XCTUnwrap(lb), p.output_label.map { Int32($0) })
        for (a, b) in zip(im.affine, p.output_affine) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        let sample = LabeledImage(id: "c", image: im, labels: lb!)
        XCTAssertEqual(sample.shape, Array(p.output_shape.reversed()))
        XCTAssertEqual(sample.spacing, [2.0, 1.5, 1.5])
    }
}
