import Foundation
import XCTest
@testable import Suite

final class HashTests: XCTestCase {
    /// FIPS 180-4 examples and a longer message, the expected digests from `sha256sum` / Python's hashlib: the
    /// run ids' wiring to swift-crypto (UTF-8 bytes in, lower-case hex out).
    func testSHA256KnownDigests() {
        XCTAssertEqual(RunHash.hexDigest(of: ""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(RunHash.hexDigest(of: "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(RunHash.hexDigest(of: "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(RunHash.hexDigest(of: "Dice ±3 é→"), "b2332593caacc288cc54cc6890038410f734fbe1f4a4942005233e8e3edb825f")
        XCTAssertEqual(RunHash.hexDigest(of: String(repeating: "a", count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// The id is part of the on-disk format: changing it would orphan every stored run and checkpoint. A run of
    /// the first stream generation keeps the id it was stored under (its JSON has no "streams" member); the
    /// current generation's id differs, so the two are never taken for each other.
    func testRunIdIsStable() {
        let config = tmcConfig(seed: 1)
        XCTAssertEqual(config.canonicalJSON,
                       #"{"dataSource":"proxy","dataset":"QaTa-COV19","hyperparameters":{"batch":"8","lr":"0.0003"},"method":"UNet","paper":"TMC","scale":"proxy","seed":1,"streams":2,"table":"Table1","variant":"image-only"}"#)
        XCTAssertEqual(config.id, "66cebb9afce54217be0dbc73acbe42679a5017d8ff53f23ad9c6e21ceca057a5")
        var first = config
        first.streams = 1
        XCTAssertEqual(first.canonicalJSON,
                       #"{"dataSource":"proxy","dataset":"QaTa-COV19","hyperparameters":{"batch":"8","lr":"0.0003"},"method":"UNet","paper":"TMC","scale":"proxy","seed":1,"table":"Table1","variant":"image-only"}"#)
        XCTAssertEqual(first.id, "3a86efcc4bec2abd102dbe7a588a88b3e1f314ec1f20a7ee24b1be05cc00f118")
        let decoded = try! JSONDecoder().decode(RunConfig.self, from: Data(first.canonicalJSON.utf8))
        XCTAssertEqual(decoded.streams, 1, "a stored config without the member is generation 1")
        XCTAssertEqual(decoded.id, first.id)
        let written = String(decoding: try! JSONEncoder().encode(first), as: UTF8.self)
        XCTAssertFalse(written.contains("streams"), "exports of old runs stay as they were: \(written)")
        XCTAssertTrue(String(decoding: try! JSONEncoder().encode(config), as: UTF8.self).contains("\"streams\":2"))
    }

    func testIdIgnoresDictionaryOrderButNotValues() {
        var a = tmcConfig(hyperparameters: [:])
        var b = a
        for (k, v) in [("lr", "1e-3"), ("batch", "8"), ("patience", "20"), ("epochs", "100")] { a.hyperparameters[k] = v }
        for (k, v) in [("epochs", "100"), ("patience", "20"), ("batch", "8"), ("lr", "1e-3")] { b.hyperparameters[k] = v }
        XCTAssertEqual(a.id, b.id)
        let variants: [RunConfig] = [
            { var c = a; c.seed = 2; return c }(),
            { var c = a; c.scale = "smoke"; return c }(),
            { var c = a; c.dataSource = .real; return c }(),
            { var c = a; c.variant = "text"; return c }(),
            { var c = a; c.hyperparameters["lr"] = "3e-4"; return c }(),
            { var c = a; c.table = "Table2"; return c }(),
        ]
        let ids = Set(variants.map(\.id) + [a.id])
        XCTAssertEqual(ids.count, variants.count + 1)
    }

    func testCanonicalJSONEscapesAndDecodesBack() throws {
        let config = tmcConfig(method: "Quote\"Back\\slash\nTab\t\u{01}é", hyperparameters: ["z": "1", "a": "→"])
        let json = config.canonicalJSON
        XCTAssertTrue(json.contains(#""method":"Quote\"Back\\slash\nTab\t\u0001é""#))
        XCTAssertTrue(json.contains(#""hyperparameters":{"a":"→","z":"1"}"#))
        let decoded = try JSONDecoder().decode(RunConfig.self, from: Data(json.utf8))
        XCTAssertEqual(decoded, config)
    }
}
