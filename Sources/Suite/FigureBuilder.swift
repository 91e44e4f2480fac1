import Foundation

public enum FigureBuilder {
    public static func figures(spec: TableSpec, section: TableSection, catalogue: PublishedCatalogue) -> [(String, Figure)] {
        var figures = spec.metrics.map { metric in
            (metric.id, bars(spec: spec, section: section, metric: metric, catalogue: catalogue))
        }
        if let curve = spec.curve {
            figures.append(("curves", curves(spec: spec, section: section, curve: curve)))
        }
        return figures
    }

    public static func bars(spec: TableSpec, section: TableSection, metric: MetricSpec, catalogue: PublishedCatalogue) -> Figure {
        let panels = spec.datasets.map { dataset -> BarPanel in
            let stats = spec.rows.map { section.stats(row: $0, dataset: dataset, metric: metric) }
            let published = spec.rows.map { spec.published(row: $0, dataset: dataset, metric: metric, in: catalogue)?.value }
            return BarPanel(title: dataset.display, categories: spec.rows.map(\.display), series: [
                BarSeries(name: "published", values: published),
                BarSeries(name: "reproduced (\(section.dataSource.rawValue))", values: stats.map { $0?.mean },
                          errors: stats.map { $0?.sd }),
            ])
        }.filter { panel in panel.series[1].values.contains { $0 != nil } }
        let origin = "(\(section.dataSource.rawValue), \(section.scale))"
        return Figure(title: "\(spec.title): \(metric.display), published vs reproduced \(origin)",
                      yLabel: metric.display, content: .bars(panels))
    }

    public static func curves(spec: TableSpec, section: TableSection, curve: CurveSpec) -> Figure {
        let panels = spec.datasets.map { dataset in
            LinePanel(title: dataset.display, series: spec.rows.map { row in
                let points = section.meanCurve(row: row, dataset: dataset, curve: curve)
                return LineSeries(name: row.display, x: points.map { Double($0.epoch) }, y: points.map(\.value))
            })
        }
        let origin = "(\(section.dataSource.rawValue), \(section.scale))"
        return Figure(title: "\(spec.title): \(curve.display) per epoch, mean over seeds \(origin)",
                      xLabel: "epoch", yLabel: curve.display, content: .lines(panels))
    }
}
