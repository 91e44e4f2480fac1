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
        abstract: "Describe a MOSMOS proxy data set (BTCV, MMWHS, BRATS, AMOS): per-class volumes and intensities; optionally write slices and volumes.")
    @Argument(help: "BTCV, MMWHS, BRATS or AMOS.") var dataset: String
    @Option(help: "smoke or proxy.") var scale: Scale = .proxy
    @Option(help: "Folder for one PNG per case: its most labelled axial slice beside the labels in class colours.") var png: String?
    @Option(help: "Folder for the cases as NIfTI (image and label per case).") var nifti: String?

    func run() throws {
        guard let kind = VolumeProxyKind(rawValue: dataset.uppercased()) else {
            throw ValidationError("no proxy named \(dataset); there are \(VolumeProxyKind.allCases.map(\.rawValue).joined(separator: ", "))")
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
}
