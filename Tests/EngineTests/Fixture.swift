import XCTest
import Foundation
import Engine

/// Golden values written by scripts/golden/*.py (format in scripts/golden/common.py):
/// `Fixture.load("norm").case("layernorm_last").tensor("x")`.
/// A missing file, case or key is a programming error in the test, so it stops with a message naming it.
struct Fixture {
    let group: String
    let document: [String: Any]

    /// URL of a file in the Fixtures resource directory (JSON groups and binary fixtures alike).
    static func url(_ filename: String) -> URL {
        guard let base = Bundle.module.resourceURL else { fatalError("EngineTests has no resource bundle") }
        return base.appendingPathComponent("Fixtures").appendingPathComponent(filename)
    }

    static func load(_ group: String) -> Fixture {
        let u = url("\(group).json")
        guard let data = try? Data(contentsOf: u) else {
            fatalError("fixture \(u.path) missing: run /work/venv/bin/python scripts/golden/nn_fixtures.py")
        }
        guard let doc = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            fatalError("fixture \(u.path) is not a JSON object")
        }
        return Fixture(group: group, document: doc)
    }

    var caseNames: [String] { ((document["cases"] as? [String: Any]) ?? [:]).keys.sorted() }

    func `case`(_ name: String) -> FixtureCase {
        guard let c = (document["cases"] as? [String: Any])?[name] as? [String: Any] else {
            fatalError("fixture \(group) has no case \(name); cases: \(caseNames)")
        }
        return FixtureCase(label: "\(group)/\(name)", tensors: c["tensors"] as? [String: Any] ?? [:],
                           scalars: c["scalars"] as? [String: Any] ?? [:], params: c["params"] as? [String: Any] ?? [:])
    }

    /// A top-level value other than "cases" (for example a list of texts).
    func value(_ key: String) -> Any? { document[key] }
}

struct FixtureCase {
    let label: String
    let tensors: [String: Any]
    let scalars: [String: Any]
    let params: [String: Any]

    func has(_ key: String) -> Bool { tensors[key] != nil || scalars[key] != nil || params[key] != nil }

    func tensor(_ key: String, requiresGrad: Bool = false) -> Tensor {
        guard let entry = tensors[key] as? [String: Any], let shape = entry["shape"] as? [Int],
              let data = entry["data"] as? [Any] else {
            fatalError("\(label) has no tensor \(key); tensors: \(tensors.keys.sorted())")
        }
        return Tensor(data.map { ($0 as! NSNumber).floatValue }, shape: shape, requiresGrad: requiresGrad)
    }

    /// A tensor of integer values (labels, indices) as Ints.
    func indices(_ key: String) -> [Int] { tensor(key).array.map { Int($0.rounded()) } }

    func double(_ key: String) -> Double {
        guard let v = (scalars[key] ?? params[key]) as? NSNumber else { fatalError("\(label) has no scalar \(key)") }
        return v.doubleValue
    }
    func scalar(_ key: String) -> Float { Float(double(key)) }
    func int(_ key: String) -> Int { Int(double(key).rounded()) }

    func ints(_ key: String) -> [Int] {
        guard let v = params[key] as? [Any] else { fatalError("\(label) has no integer list \(key)") }
        return v.map { ($0 as! NSNumber).intValue }
    }
    func bool(_ key: String) -> Bool {
        guard let v = params[key] as? Bool else { fatalError("\(label) has no boolean \(key)") }
        return v
    }
    func string(_ key: String) -> String {
        guard let v = params[key] as? String else { fatalError("\(label) has no string \(key)") }
        return v
    }
}

/// Elementwise |a − b| ≤ atol + rtol·|b| with equal shapes; reports the worst element and how many fail.
func assertClose(_ a: Tensor, _ b: Tensor, atol: Float = 1e-5, rtol: Float = 1e-4, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    guard a.shape == b.shape else {
        XCTFail("\(message): shape \(a.shape), expected \(b.shape)", file: file, line: line)
        return
    }
    var failures = 0, worst = -1
    var worstExcess: Float = 0
    for i in 0..<a.count {
        let x = a.ptr[i], y = b.ptr[i]
        let excess = Swift.abs(x - y) - (atol + rtol * Swift.abs(y))
        if excess > 0 || x.isNaN != y.isNaN {
            failures += 1
            if excess > worstExcess || worst < 0 { worstExcess = excess; worst = i }
        }
    }
    if failures > 0 {
        XCTFail("\(message): \(failures) of \(a.count) elements differ; worst at \(worst): \(a.ptr[worst]) vs \(b.ptr[worst])",
                file: file, line: line)
    }
}

func assertClose(_ a: Float, _ b: Float, atol: Float = 1e-5, rtol: Float = 1e-4, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssert(Swift.abs(a - b) <= atol + rtol * Swift.abs(b), "\(message): \(a), expected \(b)", file: file, line: line)
}
