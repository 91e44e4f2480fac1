import XCTest
import Foundation
@testable import Data

final class ZZDumpTests: XCTestCase {
    func testDump() throws {
        guard let dir = ProcessInfo.processInfo.environment["DATA_DUMP_DIR"] else { return }
        for kind in ProxyKind.allCases {
            for scale in [ProxyScale.proxy, .smoke] {
                let t0 = Date()
                let ds = makeProxy(kind, scale: scale, seed: 1)
                print(kind, scale, "time", Date().timeIntervalSince(t0))
                let samples = Array(ds.train.prefix(24))
                let s = samples[0].image.width
                let cols = 6, rows = (samples.count + cols - 1) / cols
                let W = cols * s * 2, H = rows * s
                var px = [Float](repeating: 0, count: 3 * W * H)
                for (i, smp) in samples.enumerated() {
                    let ox = (i % cols) * 2 * s, oy = (i / cols) * s
                    for y in 0..<s { for x in 0..<s {
                        let g = smp.image.pixels[y * s + x]
                        for c in 0..<3 { px[c * W * H + (oy + y) * W + ox + x] = g }
                        let m = smp.mask[y * s + x] > 0
                        px[0 * W * H + (oy + y) * W + ox + s + x] = m ? 1 : g
                        px[1 * W * H + (oy + y) * W + ox + s + x] = m ? g * 0.5 : g
                        px[2 * W * H + (oy + y) * W + ox + s + x] = m ? g * 0.5 : g
                    } }
                    print(smp.id, smp.patient, smp.text)
                }
                try writePNG(Image2D(width: W, height: H, channels: 3, pixels: px), to: URL(fileURLWithPath: "\(dir)/\(kind)_\(scale).png"))
                for (i, st) in datasetStatistics(ds).enumerated() { print(kind, scale, i, st) }
            }
        }
    }
}
