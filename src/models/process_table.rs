//! Helper updates → rows of the Network table.
