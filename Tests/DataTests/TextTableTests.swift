import XCTest
@testable import Data

final class TextTableTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = makeScratchFolder() }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    func testWorkbookWithSharedRichAndInlineStrings() throws {
        // The first sheet in workbook order is stored in sheet2.xml; cells lack `r` in row 3; row 4 is absent.
        let rows = try readXLSXFirstSheet(fixture("xlsx/rich.xlsx"))
        XCTAssertEqual(rows.map(\.number), [1, 2, 3, 5, 6])
        XCTAssertEqual(rows[0].cells, ["0", "Image", "", "Description"])
        XCTAssertEqual(rows[1].cells, ["", "a.png", "", "Bilateral pulmonary infection."])
        XCTAssertEqual(rows[2].cells, ["2", "b.png", "", "  spaced  "])
        XCTAssertEqual(rows[3].cells, ["", "c.png", "", "x & y"])
        let table = try readTextTable(fixture("xlsx/rich.xlsx"))
        XCTAssertEqual(table, [TextRow(image: "a.png", description: "Bilateral pulmonary infection.", row: 2),
                               TextRow(image: "b.png", description: "spaced", row: 3),
                               TextRow(image: "c.png", description: "x & y", row: 5)])
    }

    func testOpenpyxlWorkbook() throws {
        let table = try readTextTable(fixture("lvit_qata/Test_Folder/Test_text.xlsx"))
        XCTAssertEqual(table.map(\.image), ["mask_covid_5.png", "mask_covid_6.png"])
        XCTAssertEqual(table[0].description, "Unilateral pulmonary infection, two infected areas, middle lower left lung.")
        XCTAssertEqual(table.map(\.row), [2, 3])
    }

    func testCSVQuotingRules() throws {
        let text = "\u{FEFF}image,Extra,DESCRIPTION\r\n"
            + "a.png,1,\"one, two\"\r\n"
            + "\"b.png\",2,\"say \"\"hi\"\"\"\n"
            + "c.png,3,\"line one\nline two\"\r\n"
            + "\r\n"
            + "d.png,4,last without newline"
        let url = scratch.appendingPathComponent("t.csv")
        try text.write(to: url, atomically: true, encoding: .utf8)
        let table = try readTextTable(url)
        XCTAssertEqual(table, [TextRow(image: "a.png", description: "one, two", row: 2),
                               TextRow(image: "b.png", description: "say \"hi\"", row: 3),
                               TextRow(image: "c.png", description: "line one\nline two", row: 4),
                               TextRow(image: "d.png", description: "last without newline", row: 7)])
    }

    func testCSVErrorsNameTheFile() throws {
        let open = scratch.appendingPathComponent("open.csv")
        try "Image,Description\na.png,\"never closed\n".write(to: open, atomically: true, encoding: .utf8)
        guard case let .badTextTable(path, reason)? = dataError({ _ = try readTextTable(open) }) else { return XCTFail() }
        XCTAssertEqual(path, open.path)
        XCTAssertTrue(reason.contains("line 2"), reason)
        let stray = scratch.appendingPathComponent("stray.csv")
        try "Image,Description\na.png,bad\"quote\n".write(to: stray, atomically: true, encoding: .utf8)
        guard case .badTextTable? = dataError({ _ = try readTextTable(stray) }) else { return XCTFail() }
        let headless = scratch.appendingPathComponent("headless.csv")
        try "Name,Text\na.png,x\n".write(to: headless, atomically: true, encoding: .utf8)
        guard let e = dataError({ _ = try readTextTable(headless) }) else { return }
        XCTAssertTrue(e.description.contains("Image and Description") && e.description.contains("headless.csv"), e.description)
    }

    func testNotAWorkbook() throws {
        let url = scratch.appendingPathComponent("fake.xlsx")
        try "plain text".write(to: url, atomically: true, encoding: .utf8)
        guard case let .badTextTable(path, _)? = dataError({ _ = try readTextTable(url) }) else { return XCTFail() }
        XCTAssertEqual(path, url.path)
    }

    func testWriterRoundTripsBothFormats() throws {
        let rows: [(image: String, description: String)] = [
            ("mask_covid_1.png", "Bilateral pulmonary infection, two infected areas, all left lung and all right lung."),
            ("x&y<z>.png", "quote \" comma , newline\nend"),
            ("ünïcode.png", "Left breast, one tumour, central region, diameter about 1 cm."),
        ]
        for ext in ["xlsx", "csv"] {
            let url = scratch.appendingPathComponent("t.\(ext)")
            try writeTextTable(rows, to: url)
            let back = try readTextTable(url)
            XCTAssertEqual(back.map(\.image), rows.map(\.image), ext)
            XCTAssertEqual(back.map(\.description), rows.map(\.description), ext)
            // xlsx counts sheet rows; csv counts lines, and the second description spans two.
            XCTAssertEqual(back.map(\.row), ext == "xlsx" ? [2, 3, 4] : [2, 3, 5], ext)
        }
    }

    func testWorkbookBytesAreReproducible() throws {
        let a = scratch.appendingPathComponent("a.xlsx"), b = scratch.appendingPathComponent("b.xlsx")
        try writeTextTable([("k.png", "v")], to: a)
        try writeTextTable([("k.png", "v")], to: b)
        XCTAssertEqual(try Foundation.Data(contentsOf: a), try Foundation.Data(contentsOf: b))
    }
}
