import Foundation
import ArgumentParser
import Suite
import Data
import MOSMOS

/// `repro proxy BTCV`: what a 3D proxy holds, so that its design (Papers/MOSMOS/datasets.md) can be checked
/// against the generator: per-class presence, volume and intensity, and optionally each case's most labelled
/// axial slice as a PNG and the cases as NIfTI for any viewer.
struct ProxyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "proxy",
        abstract: "Describe a proxy data set: a MOSMOS volume set's per-class volumes and intensities, or a TMC set's split statistics and lesion contrast; optionally write images.")
    @Argument(help: "BTCV, MMWHS, BRATS or AMOS (MOSMOS), or QaTa-COV19, MosMedData or Duke-Breast (TMC).") var dataset: String
    @Option(help: "smoke or proxy.") var scale: Scale = .proxy
    @Option(help: "Folder for one PNG per case: its most labelled axial slice beside the labels in class colours.") var png: String?
    @Option(help: "Folder for the cases as NIfTI (image and label per case).") var nifti: String?

    func run() throws {
        if let kind = ProxyKind.allCases.first(where: { [$0.datasetName.lowercased(), $0.rawValue].contains(dataset.lowercased()) }) {
            return try describe2D(kind)
        }
        guard let kind = VolumeProxyKind(rawValue: dataset.uppercased()) else {
            let names = ProxyKind.allCases.map(\.datasetName) + VolumeProxyKind.allCases.map(\.rawValue)
            throw ValidationError("no proxy named \(dataset); there are \(names.joined(separator: ", "))")
        }
        let data = makeVolumeProxy(kind, scale: scale, seed: MOSMOSData.proxySeed)
        let all = data.train + data.val + data.test
        print("\(data.source): train \(data.train.count), val \(data.val.count), test \(data.test.count); shapes (z, y, x) "
              + Set(all.map { "\($0.shape)" }).sorted().prefix(4).joined(separator: " ") + (Set(all.map(\.shape)).count > 4 ? " …" : "")
              + "; spacing \(all[0].spacing) mm; \(all[0].channels) channel(s)")
        print("label  class                          present   volume mL (mean ± sd)   mean intensity")
        for s in volumeClassStatistics(all, classes: data.classes) {
            print(String(format: "%5d  %@ %3d/%-3d   %9.1f ± %-9.1f   %8.3f", s.label, s.name.padding(toLength: 30, withPad: " ", startingAt: 0),
                         s.present, s.cases, s.meanVolume, s.sdVolume, s.meanIntensity))
        }
        if let dir = png {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for c in all {
                let (image, labels) = c.slice(c.mostLabeledSlice)
                let normalised = Image2D(width: image.width, height: image.height, channels: 1, pixels: FigureRaster.normalized(image.pixels))
                let f = 3
                let left = FigureRaster.enlarged(FigureRaster.rgb(normalised), by: f)
                let right = FigureRaster.labelPanel(image: normalised, labels: labels, factor: f)
                try writePNG(FigureRaster.beside(left, right), to: URL(fileURLWithPath: dir).appendingPathComponent("\(c.id).png"))
            }
            print("slices: \(dir)")
        }
        if let dir = nifti {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for c in all {
                let (image, label) = c.volumes
                try NIfTI.write(image, to: URL(fileURLWithPath: dir).appendingPathComponent("\(c.id)_image.nii.gz"))
                try NIfTI.write(label, to: URL(fileURLWithPath: dir).appendingPathComponent("\(c.id)_label.nii.gz"), datatype: NIfTI.int32)
            }
            print("volumes: \(dir)")
        }
    }

    /// A TMC proxy: per split its size, foreground, components and pixel statistics; `--png` writes the first test
    /// images beside their masks.
    func describe2D(_ kind: ProxyKind) throws {
        let data = makeProxy(kind, scale: scale, seed: proxyDataSeed)
        print("\(data.source)")
        print("split   images patients  foreground   empty  components  pixel mean/sd")
        for (name, split) in [("train", data.train), ("val", data.val), ("test", data.test)] {
            let st = splitStatistics(split)
            print(String(format: "%-6@ %7d %8d  %8.2f %%  %5.1f %%  %10.2f  %.3f / %.3f", name as NSString,
                         st.samples, st.patients, 100 * st.meanForeground, 100 * st.emptyShare, st.meanComponents,
                         st.pixelMean, st.pixelSD))
        }
        if let dir = png {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for s in data.test.prefix(12) {
                let image = Image2D(width: s.image.width, height: s.image.height, channels: 1, pixels: s.image.pixels)
                let mask = Image2D(width: s.image.width, height: s.image.height, channels: 1, pixels: s.mask.map { Float($0) })
                let f = 3
                try writePNG(FigureRaster.beside(FigureRaster.enlarged(FigureRaster.rgb(image), by: f),
                                                 FigureRaster.enlarged(FigureRaster.rgb(mask), by: f)),
                             to: URL(fileURLWithPath: dir).appendingPathComponent("\(s.id).png"))
            }
            print("images: \(dir)")
        }
    }
}
