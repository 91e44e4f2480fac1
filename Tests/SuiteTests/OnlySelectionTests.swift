import XCTest
@testable import Suite
import TMC

/// `--only` takes a row's id as the table shows it, or an unambiguous prefix, case-insensitively.
final class OnlySelectionTests: XCTestCase {
    func testIdsPrefixesAndAmbiguity() throws {
        let rows = TMCMethods.table1
        XCTAssertEqual(try rows.select(only: ["TMC"], target: "Table1_TMC"), ["TMC (ours)"])
        XCTAssertEqual(try rows.select(only: ["TMC (ours)", "clip"], target: "Table1_TMC"), ["TMC (ours)", "CLIP"])
        XCTAssertEqual(try rows.select(only: ["unet"], target: "Table1_TMC"), ["UNet"], "an exact id wins over UNet++")
        XCTAssertEqual(try rows.select(only: ["UNet+"], target: "Table1_TMC"), ["UNet++"])
        XCTAssertThrowsError(try rows.select(only: ["M"], target: "Table1_TMC")) { e in
            XCTAssertTrue("\(e)".contains("ambiguous") && "\(e)".contains("MAP") && "\(e)".contains("MGCA"), "\(e)")
        }
        XCTAssertThrowsError(try rows.select(only: ["SAM"], target: "Table1_TMC")) { e in
            XCTAssertTrue("\(e)".contains("no such method") && "\(e)".contains("TMC (ours)"), "\(e)")
        }
    }
}
