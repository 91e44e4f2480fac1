import XCTest
import Foundation
@testable import Data

/// The MOSMOS data set layouts on tiny volumes written in exactly those layouts (scripts/golden/volume_fixtures.py).
final class VolumeLayoutTests: XCTestCase {
    func testBTCVDecathlonJSON() throws {
        let set = try VolumeLayouts.decathlon(json: fixture("layouts/btcv/dataset_0.json"))
        XCTAssertEqual(set.name, "BTCV")
        XCTAssertEqual(set.classes.count, 14)
        XCTAssertEqual(set.classes[1], "spleen")
        XCTAssertEqual(set.training.map(\.id), ["img0001", "img0002"])
        XCTAssertEqual(set.validation.map(\.id), ["img0003"])
        XCTAssertEqual(set.test.map(\.id), ["img0061"])
        XCTAssertNil(set.test[0].label)
        XCTAssertEqual(set.training[0].modality, .ct)
        let (image, label) = try set.load(set.training[0])
        XCTAssertEqual(image.shape, [4, 3, 2])
        XCTAssertEqual(image.spacing, [1.5, 1.5, 2.0])
        XCTAssertEqual(label?.count, 24)
        XCTAssertTrue(label!.allSatisfy { (0..<14).contains($0) })
    }

    func testAMOSSplitsModalitiesAndUnannotatedClasses() throws {
        let set = try VolumeLayouts.amos(root: fixture("layouts/amos"))
        XCTAssertEqual(set.classes.count, 16)
        XCTAssertEqual(set.training.map(\.id), ["amos_0001", "amos_0507"])
        XCTAssertEqual(set.training.map(\.modality), [.ct, .mri])
        XCTAssertEqual(set.training[1].unannotated, [14, 15])
        XCTAssertEqual(set.training[0].unannotated, [])
        XCTAssertEqual(set.validation.map(\.id), ["amos_0002"])
        XCTAssertEqual(set.test.map(\.id), ["amos_0600"])
        XCTAssertNotNil(try set.load(set.training[1]).label)
    }

    func testMMWHSLabelValuesMapToSevenClasses() throws {
        let set = try VolumeLayouts.mmwhs(root: fixture("layouts/mmwhs"))
        XCTAssertEqual(set.training.map(\.id), ["mr_train_1001", "mr_train_1002"])
        XCTAssertEqual(set.training[0].modality, .mri)
        let stored = try NIfTI.read(set.training[0].label!).values
        let label = try set.load(set.training[0]).label!
        let map: [Float: Int32] = [0: 0, 205: 1, 420: 2, 500: 3, 550: 4, 600: 5, 820: 6, 850: 7]
        XCTAssertEqual(label, stored.map { map[$0]! })
        XCTAssertGreaterThan(Set(label).count, 3)
    }

    func testBRATSFourChannelsAndRegions() throws {
        let set = try VolumeLayouts.brats(json: fixture("layouts/brats/dataset.json"))
        XCTAssertEqual(set.regions.map(\.name), ["ET", "TC", "WT"])
        XCTAssertEqual(set.regions.map(\.classes), [[3], [2, 3], [1, 2, 3]])
        XCTAssertEqual(set.training[0].modality, .mri)
        let (image, label) = try set.load(set.training[0])
        XCTAssertEqual(image.shape, [4, 3, 2, 4])
        XCTAssertEqual(label?.count, 24)
    }

    func testBadInputNamesTheFileAndTheFix() throws {
        let root = fixture("layouts/btcv")
        XCTAssertThrowsError(try VolumeLayouts.decathlon(json: root.appendingPathComponent("missing_file.json"))) { e in
            XCTAssertTrue("\(e)".contains("labelsTr/label0009.nii.gz") && "\(e)".contains("entry 0 of training"), "\(e)")
        }
        XCTAssertThrowsError(try VolumeLayouts.decathlon(json: root.appendingPathComponent("nowhere.json"))) { e in
            XCTAssertTrue("\(e)".contains("nowhere.json"), "\(e)")
        }
        let broken = try VolumeLayouts.decathlon(json: root.appendingPathComponent("broken.json"))
        XCTAssertThrowsError(try broken.load(broken.training[0])) { e in
            XCTAssertTrue("\(e)".contains("label_grid.nii.gz") && "\(e)".contains("Resample the label"), "\(e)")
        }
        XCTAssertThrowsError(try broken.load(broken.training[1])) { e in
            XCTAssertTrue("\(e)".contains("label_stray.nii.gz") && "\(e)".contains("20.0") && "\(e)".contains("declares only"), "\(e)")
        }
        XCTAssertThrowsError(try VolumeLayouts.amos(root: fixture("layouts/none"))) { e in
            XCTAssertTrue("\(e)".contains("imagesTr"), "\(e)")
        }
    }
}
