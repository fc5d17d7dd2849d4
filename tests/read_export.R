# Rscript read_export.R IN.csv OUT.tsv: reads synsweep's CSV export with read.csv, as a user
# would, and writes every column back as name, R class and values (numbers with 17 digits) so
# check_report.py can compare them with the HDF5 file.
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
con <- file(args[2], "w")
for (n in names(d)) {
  v <- d[[n]]
  vals <- if (is.numeric(v)) ifelse(is.na(v), "NA", sprintf("%.17g", v)) else ifelse(is.na(v), "NA", as.character(v))
  writeLines(paste(c(n, class(v), vals), collapse = "\t"), con)
}
close(con)
