import Foundation

public enum FigureBuilder {
    public static func figures(spec: TableSpec, section: TableSection, catalogue: PublishedCatalogue) -> [(String, Figure)] {
        // A many-class table gets one bar figure per class-averaged metric and one per family of class metrics
        // (the classes side by side), not one per class.
        var figures = spec.summaryMetrics.map { metric in
            (metric.id, bars(spec: spec, section: section, metric: metric, catalogue: catalogue))
        }
        // A table whose metrics are all per class keeps one figure each (they are its summary metrics).
        for family in spec.summaryMetrics.count == spec.metrics.count ? [] : spec.classFamilies {
            figures.append(("\(family)-per-class", perClass(spec: spec, section: section, family: family, catalogue: catalogue)))
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

    /// One panel per data set and backbone: the classes as categories, published and reproduced values of every
    /// row that has runs.
    public static func perClass(spec: TableSpec, section: TableSection, family: String, catalogue: PublishedCatalogue) -> Figure {
        let metrics = spec.metrics.filter { !$0.isClassAverage && $0.published == family }
        let panels = spec.datasets.flatMap { dataset in
            spec.backbones.compactMap { backbone -> BarPanel? in
                let rows = spec.rows.filter { $0.backbone == backbone && !section.runs(row: $0, dataset: dataset).isEmpty }
                guard !rows.isEmpty else { return nil }
                let series = rows.flatMap { row -> [BarSeries] in
                    let stats = metrics.map { section.stats(row: row, dataset: dataset, metric: $0) }
                    let label = rows.count > 1 ? " · \(row.display)" : ""
                    return [BarSeries(name: "published" + label,
                                      values: metrics.map { spec.published(row: row, dataset: dataset, metric: $0, in: catalogue)?.value }),
                            BarSeries(name: "reproduced (\(section.dataSource.rawValue))" + label, values: stats.map { $0?.mean },
                                      errors: stats.map { $0?.sd })]
                }
                let title = [dataset.display, backbone].filter { !$0.isEmpty }.joined(separator: " · ")
                return BarPanel(title: title + (rows.count == 1 ? " · \(rows[0].display)" : ""), categories: metrics.map(\.display), series: series)
            }
        }
        let origin = "(\(section.dataSource.rawValue), \(section.scale))"
        return Figure(title: "\(spec.title): \(family) per class, published vs reproduced \(origin)",
                      yLabel: family, content: .bars(panels))
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
