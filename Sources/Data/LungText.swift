import Foundation

// LViT's text grammar for lung infection (QaTa-COV19, MosMedData+), computed from a mask so that the text can
// only say what the mask shows: "Bilateral pulmonary infection, two infected areas, upper left lung and lower
// right lung." Left and right are the patient's: the patient's left lung is on the image's right.

/// Where the two lungs lie on an image, in pixel units.
public struct LungLayout: Equatable, Sendable {
    /// Column (continuous, pixels) that separates the patient's right lung (image left) from the left lung.
    public var midline: Double
    /// Rows (continuous, pixels; top < bottom) spanned by the patient's right lung (image left).
    public var rightLungRows: ClosedRange<Double>
    /// Rows spanned by the patient's left lung (image right).
    public var leftLungRows: ClosedRange<Double>

    public init(midline: Double, rightLungRows: ClosedRange<Double>, leftLungRows: ClosedRange<Double>) {
        self.midline = midline
        self.rightLungRows = rightLungRows
        self.leftLungRows = leftLungRows
    }
}

private let numberWords = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]

/// "one", "two", … "ten", then "multiple".
func countWord(_ n: Int) -> String { n < numberWords.count ? numberWords[n] : "multiple" }

/// "a", "a and b", "a, b and c".
func joinedList(_ items: [String]) -> String {
    guard items.count > 1 else { return items.first ?? "" }
    return items.dropLast().joined(separator: ", ") + " and " + items.last!
}

/// Zones (0 upper, 1 middle, 2 lower: thirds of the lung's rows) holding at least 5 % of that lung's foreground.
func infectedZones(mask: [UInt8], width: Int, height: Int, columns: Range<Int>, rows: ClosedRange<Double>) -> [Int] {
    var counts = [0, 0, 0]
    let span = max(rows.upperBound - rows.lowerBound, 1e-9)
    for y in 0..<height {
        let t = (Double(y) + 0.5 - rows.lowerBound) / span
        let zone = min(2, max(0, Int((t * 3).rounded(.down))))
        for x in columns where mask[y * width + x] > 0 { counts[zone] += 1 }
    }
    let total = counts.reduce(0, +)
    guard total > 0 else { return [] }
    let needed = max(1, Int((0.05 * Double(total)).rounded(.up)))
    return (0..<3).filter { counts[$0] >= needed }
}

/// Location phrases for one lung: contiguous zones merge ("middle lower left lung", all three "all left lung");
/// upper and lower without middle are two phrases.
func zonePhrases(_ zones: [Int], side: String) -> [String] {
    let names = ["upper", "middle", "lower"]
    switch zones {
    case []: return []
    case [0, 1, 2]: return ["all \(side) lung"]
    case [0, 2]: return ["upper \(side) lung", "lower \(side) lung"]
    default: return [zones.map { names[$0] }.joined(separator: " ") + " \(side) lung"]
    }
}

/// Describes a lung-infection mask in LViT's grammar. An empty mask gives "No pulmonary infection."
public func describeLungInfection(mask: [UInt8], width: Int, height: Int, layout: LungLayout) -> String {
    let areas = connectedComponents(mask, width: width, height: height).sizes.count
    guard areas > 0 else { return "No pulmonary infection." }
    let split = min(max(Int(layout.midline.rounded()), 0), width)
    let right = zonePhrases(infectedZones(mask: mask, width: width, height: height, columns: 0..<split,
                                          rows: layout.rightLungRows), side: "right")
    let left = zonePhrases(infectedZones(mask: mask, width: width, height: height, columns: split..<width,
                                         rows: layout.leftLungRows), side: "left")
    let extent = (!left.isEmpty && !right.isEmpty) ? "Bilateral" : "Unilateral"
    let noun = areas == 1 ? "area" : "areas"
    return "\(extent) pulmonary infection, \(countWord(areas)) infected \(noun), \(joinedList(left + right))."
}
