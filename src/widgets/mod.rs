//! Small custom widgets shared by the pages.

pub mod rate_chart;

pub use rate_chart::RateChart;
