import Foundation
import XCTest
@testable import Suite

final class PublishedTests: XCTestCase {
    func testRealCatalogueParses() throws {
        let catalogue = try PublishedCatalogue.load(repositoryPaths())
        XCTAssertEqual(catalogue.values.count, 618)
        XCTAssertEqual(catalogue.values(paper: "TMC", table: "Table1").count, 66)
        XCTAssertEqual(catalogue.values(paper: "TMC", table: "Table2").count, 24)
        XCTAssertEqual(catalogue.values(paper: "MOSMOS", table: "Table2").count, 226)
    }

    func testTMCTable1Lookups() throws {
        let catalogue = try PublishedCatalogue.load(repositoryPaths())
        XCTAssertEqual(catalogue.value(paper: "TMC", table: "Table1", dataset: "QaTa-COV19", method: "UNet",
                                       variant: "image-only", metric: "Dice")?.value, 79.94)
        XCTAssertEqual(catalogue.value(paper: "TMC", table: "Table1", dataset: "Duke-Breast", method: "ours",
                                       variant: "text", metric: "mIoU", class: "mean")?.value, 82.74)
        XCTAssertEqual(catalogue.value(paper: "TMC", table: "Table2", dataset: "QaTa-COV19", method: "TMC",
                                       variant: "MCM=off;Lalign=on", metric: "Dice")?.value, 83.96)
        XCTAssertNil(catalogue.value(paper: "TMC", table: "Table1", dataset: "QaTa-COV19", method: "UNet",
                                     variant: "text", metric: "Dice"))
    }

    func testMOSMOSLookupsNeedTheBackboneAndSometimesTheNote() throws {
        let catalogue = try PublishedCatalogue.load(repositoryPaths())
        let unetr = catalogue.matches(paper: "MOSMOS", table: "Table3", dataset: "MMWHS", backbone: "UNETR (ViT-B/16)",
                                      method: "MOSMOS", variant: "vs PubMedCLIP+DenseCLIP", metric: "Wilcoxon p", class: "Avg")
        XCTAssertEqual(unetr.count, 2)
        XCTAssertNil(catalogue.value(paper: "MOSMOS", table: "Table3", dataset: "MMWHS", backbone: "UNETR (ViT-B/16)",
                                     method: "MOSMOS", variant: "vs PubMedCLIP+DenseCLIP", metric: "Wilcoxon p", class: "Avg"),
                     "an ambiguous key yields no single value")
        let p = catalogue.value(paper: "MOSMOS", table: "Table2", dataset: "BTCV", backbone: "U-Net (ResNet-50)",
                                method: "MOSMOS", variant: "vs PubMedCLIP+DenseCLIP", metric: "Wilcoxon p", class: "Avg",
                                note: "Dice")
        XCTAssertEqual(try XCTUnwrap(p?.value), 0.027, accuracy: 1e-12)
        XCTAssertEqual(catalogue.value(paper: "MOSMOS", table: "Fig4", dataset: "AMOS-CT", backbone: "UNETR (ViT-B/16)",
                                       method: "MOSMOS", variant: "", metric: "Dice", class: "Avg")?.value, 86.29)
    }

    func testQuotedFieldsAndMissingColumns() throws {
        let text = [
            "paper,table,dataset,backbone,method,variant,metric,class,value,note",
            #"P,T,"Data, set",,"Say ""hi""",v,Dice,mean,1.5,"two"#,
            #"lines""#,
            "P,T,D,,M,,HD95,Avg,2e-1,",
        ].joined(separator: "\r\n")
        let catalogue = try PublishedCatalogue(csv: text)
        XCTAssertEqual(catalogue.values.count, 2)
        XCTAssertEqual(catalogue.values[0].dataset, "Data, set")
        XCTAssertEqual(catalogue.values[0].method, "Say \"hi\"")
        XCTAssertEqual(catalogue.values[0].note, "two\nlines")
        XCTAssertEqual(catalogue.values[1].value, 0.2)
        XCTAssertThrowsError(try PublishedCatalogue(csv: "paper,table\nA,B\n")) { error in
            XCTAssertEqual(error as? PublishedError, .missingColumn("dataset"))
        }
        XCTAssertThrowsError(try PublishedCatalogue(csv: text.replacingOccurrences(of: "2e-1", with: "n/a"))) { error in
            XCTAssertEqual(error as? PublishedError, .badRow(line: 4, reason: "value n/a is not a number"))
        }
    }

    func testProjectPathsFindTheRoot() throws {
        let paths = try repositoryPaths()
        XCTAssertTrue(FileManager.default.fileExists(atPath: paths.root.appendingPathComponent("Package.swift").path))
        XCTAssertEqual(paths.defaultDatabase.lastPathComponent, "results.sqlite")
        XCTAssertEqual(paths.defaultDatabase.deletingLastPathComponent().lastPathComponent, "Reports")
        XCTAssertEqual(paths.tolerances(paper: "TMC").path, paths.root.path + "/Papers/TMC/tolerances.json")
        XCTAssertEqual(paths.reference(paper: "TMC", scale: "proxy").lastPathComponent, "reference-proxy.json")

        // From a sub-directory the walk goes up to the root.
        let deeper = paths.root.appendingPathComponent("Sources/Suite", isDirectory: true)
        XCTAssertEqual(try ProjectPaths.locate(environment: [:], currentDirectory: deeper), paths)
        // REPRO_ROOT wins over everything.
        XCTAssertEqual(try ProjectPaths.locate(environment: ["REPRO_ROOT": "/srv/repro"], currentDirectory: deeper).root.path,
                       "/srv/repro")
        // Outside the repository, the source file's location is the fallback.
        XCTAssertEqual(try ProjectPaths.locate(environment: [:], currentDirectory: URL(fileURLWithPath: "/")), paths)
    }

    func testTMCToleranceFileIsComplete() throws {
        let file = try XCTUnwrap(ToleranceFile.load(paper: "TMC", paths: repositoryPaths()))
        XCTAssertEqual(file.paper, "TMC")
        for table in ["Table1", "Table2"] {
            let t = try XCTUnwrap(file.tables[table])
            XCTAssertEqual(t.real["Dice"]?.absolute, 3.0)
            XCTAssertEqual(t.real["mIoU"]?.absolute, 4.0)
            XCTAssertEqual(t.proxy.k, 3.0)
            XCTAssertEqual(t.proxy.floor, ["Dice": 3.5, "mIoU": 5.5, "Dice_shuffled_text": 5.5])
            XCTAssertFalse(t.real["Dice"]!.why.isEmpty)
        }
    }
}
