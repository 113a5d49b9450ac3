//! SVG line charts of the benchmarks' series, written next to their tables: dark text on a white
//! background of their own, so that they read the same on a light page and on a dark one.

use std::error::Error;
use std::path::{Path, PathBuf};

use plotters::element::DashedPathElement;
use plotters::prelude::*;

/// The series' colours in turn: a blue, an orange and a dark grey, each clear on white.
const COLOURS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(230, 97, 0),
    RGBColor(64, 64, 64),
];
/// A horizontal limit, dashed.
const LIMIT: RGBColor = RGBColor(178, 34, 34);
/// The vertical marks and their labels, dashed.
const MARK: RGBColor = RGBColor(96, 96, 96);

/// `benches/charts/<name>` in this repository.
pub fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/charts")
        .join(name)
}

/// Writes to `path` (creating its directory) a 900×450 SVG chart of `series`, each a name for
/// the legend and its `(x, y)` points, y a count from 0; with `limit`, a dashed horizontal line
/// at that y named in the legend, and a dashed vertical line at each of `marks`, labelled.
pub fn lines(
    path: &Path,
    title: &str,
    (x_label, y_label): (&str, &str),
    series: &[(&str, &[(f64, f64)])],
    limit: Option<(f64, &str)>,
    marks: &[(f64, &str)],
) -> Result<(), Box<dyn Error>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let all = || series.iter().flat_map(|(_, points)| points.iter());
    let x_from = all().map(|(x, _)| *x).fold(f64::INFINITY, f64::min);
    let x_to = all().map(|(x, _)| *x).fold(f64::NEG_INFINITY, f64::max);
    let (x_from, x_to) = match x_from < x_to {
        true => (x_from, x_to),
        false => (0.0, 1.0),
    };
    let y_max = all()
        .map(|(_, y)| *y)
        .chain(limit.map(|(y, _)| y))
        .fold(1.0, f64::max);
    // Headroom above the highest point, for the legend.
    let y_to = y_max * 1.3;

    let root = SVGBackend::new(path, (900, 450)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(75)
        .build_cartesian_2d(x_from..x_to, 0.0..y_to)?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .x_desc(x_label)
        .y_desc(y_label)
        .y_label_formatter(&|y: &f64| format!("{y:.0}"))
        .draw()?;

    // The limit first, so that a series running along it stays visible.
    if let Some((at, name)) = limit {
        let style = LIMIT.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(
                [(x_from, at), (x_to, at)],
                8,
                5,
                style,
            ))?
            .label(name)
            .legend(move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 20, y)], 6, 3, style));
    }
    for ((name, points), colour) in series.iter().zip(COLOURS.iter().cycle()) {
        let colour = *colour;
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
            });
    }
    for (x, label) in marks {
        let line = [(*x, 0.0), (*x, y_to)];
        chart.draw_series(DashedLineSeries::new(line, 5, 4, MARK.stroke_width(1)))?;
        let style = ("sans-serif", 14).into_font().color(&MARK);
        let text = Text::new(format!(" {label}"), (*x, y_to), style);
        chart.draw_series(std::iter::once(text))?;
    }

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    root.present()?;
    Ok(())
}
