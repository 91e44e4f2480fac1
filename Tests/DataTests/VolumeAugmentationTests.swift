import XCTest
import Foundation
@testable import Data

/// UNETR's training augmentations: what each draw does against MONAI 1.6 at fixed draws
/// (scripts/golden/volume_fixtures.py), and the draws themselves by their frequencies and their seed.
final class VolumeAugmentationTests: XCTestCase {
    struct Array3: Decodable { let shape: [Int]; let values: [Double] }
    struct Crop: Decodable { let shape: [Int], size: [Int], centre: [Int], corrected: [Int] }

    func load() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Foundation.Data(contentsOf: fixture("augmentations.json"))) as! [String: Any]
    }

    func volume(_ any: Any?) throws -> Volume {
        let a = try JSONDecoder().decode(Array3.self, from: JSONSerialization.data(withJSONObject: any!))
        return Volume(shape: a.shape, values: a.values.map(Float.init), spacing: [1, 1, 1])
    }

    func testEachDrawDoesWhatMONAIDoes() throws {
        let doc = try load()
        let x = try volume(doc["input"])
        var expected: [String: Volume] = [:]
        for (k, v) in [("flip_0", VolumeAugmentation.flip(x, axis: 0)), ("flip_1", VolumeAugmentation.flip(x, axis: 1)),
                       ("flip_2", VolumeAugmentation.flip(x, axis: 2)), ("rot90_1", VolumeAugmentation.rotate90(x, k: 1)),
                       ("rot90_2", VolumeAugmentation.rotate90(x, k: 2)), ("rot90_3", VolumeAugmentation.rotate90(x, k: 3))] {
            expected[k] = try volume(doc[k])
            XCTAssertEqual(v.shape, expected[k]!.shape, k)
            XCTAssertEqual(v.values, expected[k]!.values, k)
        }
        let scaled = try volume(doc["scale_0.07"]), shifted = try volume(doc["shift_-0.04"])
        for i in 0..<x.values.count {
            XCTAssertEqual(x.values[i] * (1 + 0.07), scaled.values[i], accuracy: 1e-6)
            XCTAssertEqual(x.values[i] + -0.04, shifted.values[i], accuracy: 1e-6)
        }
        let crops = try JSONDecoder().decode([Crop].self, from: JSONSerialization.data(withJSONObject: doc["crops"]!))
        XCTAssertEqual(crops.count, 4)
        for c in crops {
            let box = VolumeAugmentation.cropBox(centre: c.centre, size: c.size, shape: c.shape)
            XCTAssertEqual(box.lower, (0..<3).map { c.corrected[$0] - c.size[$0] / 2 }, "\(c)")
            XCTAssertTrue((0..<3).allSatisfy { box.lower[$0] >= 0 && box.lower[$0] + c.size[$0] <= c.shape[$0] }, "\(c)")
        }
    }

    /// A CT-like case: body (image > 0) with an organ inside. Half the patches are centred on the organ, the rest
    /// on body without organ; flips and turns at about 0.2; the same seed gives the same patches.
    func testDrawFrequenciesAndSeeding() {
        let shape = [12, 10, 8], n = 12 * 10 * 8
        var image = [Float](repeating: 0, count: n), label = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let x = i % 12, y = (i / 12) % 10, z = i / 120
            if x > 1 && x < 11 && y > 0 && y < 9 { image[i] = 1 + Float(z) / 10 }
            if x >= 3 && x <= 5 && y >= 3 && y <= 5 && z >= 2 && z <= 4 { label[i] = 2 }
        }
        let im = Volume(shape: shape, values: image, spacing: [1, 1, 1]), lb = Volume(shape: shape, values: label, spacing: [1, 1, 1])
        let aug = VolumeAugmentation(patch: [4, 4, 4], flipProbability: 0, rotateProbability: 0, intensityProbability: 0)
        var rng = RNG(seed: 3)
        var centredOnOrgan = 0, total = 0
        for _ in 0..<250 {
            for p in aug.patches(image: im, label: lb, rng: &rng) {
                total += 1
                // Patch voxel (2, 2, 2) is the drawn centre: the organ lies where no centre needs moving, and a
                // background centre that is moved lands next to the body's edge, away from the organ.
                if p.label.values[2 + 4 * (2 + 4 * 2)] > 0 { centredOnOrgan += 1 }
            }
        }
        XCTAssertEqual(total, 1000)
        XCTAssertEqual(Double(centredOnOrgan) / 1000, 0.5, accuracy: 0.06, "pos = neg = 1")

        let flips = VolumeAugmentation(patch: [4, 4, 4], flipProbability: 0.2, rotateProbability: 0.2, intensityProbability: 0.1)
        var a = RNG(seed: 7), b = RNG(seed: 7)
        let first = flips.patches(image: im, label: lb, rng: &a), second = flips.patches(image: im, label: lb, rng: &b)
        XCTAssertEqual(first.map(\.image.values), second.map(\.image.values), "the same seed, the same patches")
        XCTAssertEqual(first.count, 4)
        XCTAssertTrue(first.allSatisfy { $0.image.shape == [4, 4, 4] && $0.label.shape == [4, 4, 4] })
    }
}
