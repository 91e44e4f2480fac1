import Foundation
import XCTest
@testable import Data

/// A fixture shipped with the tests (see scripts/make_data_fixtures.py).
func fixture(_ path: String) -> URL {
    Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(path)
}

/// A fresh scratch folder, removed by the caller's tearDown.
func makeScratchFolder() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("DataTests-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Runs `body` and returns the DataError it throws, failing the test otherwise.
func dataError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> DataError? {
    do {
        try body()
        XCTFail("expected a DataError", file: file, line: line)
    } catch let e as DataError {
        return e
    } catch {
        XCTFail("expected a DataError, got \(error)", file: file, line: line)
    }
    return nil
}

/// Pixel pattern of the fixture images: ((x·17 + y·31 + k·13) mod 256) / 255.
func fixturePattern(width: Int, height: Int, k: Int) -> [Float] {
    var out: [Float] = []
    for y in 0..<height { for x in 0..<width { out.append(Float((x * 17 + y * 31 + k * 13) % 256) / 255) } }
    return out
}

/// A width × height 0/1 mask with ones on [x0, x1) × [y0, y1).
func rectangle(width: Int, height: Int, x0: Int, y0: Int, x1: Int, y1: Int) -> [UInt8] {
    var m = [UInt8](repeating: 0, count: width * height)
    for y in y0..<y1 { for x in x0..<x1 { m[y * width + x] = 1 } }
    return m
}
