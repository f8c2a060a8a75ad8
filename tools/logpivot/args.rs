//! Every flag of the `logpivot` command and its help text, in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Out-of-core columnar storage, indexes and pivot tables for JSON security logs.
#[derive(Parser, Debug)]
#[command(name = "logpivot", version, about, long_about = None)]
#[command(
    after_help = "Start with `logpivot demo`: it generates sample Cloudflare firewall events, \
ingests them and prints what the data looks like, with the commands that did it."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Ingest JSON logs (NDJSON, .gz, .zst, JSON arrays, stdin) into a data directory.
    Ingest(IngestArgs),
    /// Show what a data directory holds: segments, columns, indexes, rejects.
    Inspect(InspectArgs),
    /// Pivot tables: group by keys, count and aggregate, join rule maps, filter.
    Pivot(Box<PivotArgs>),
    /// Rank the field values over-represented in a suspect set (e.g. an attack window) against
    /// a baseline: counts, smoothed probability, G-test, q-value, JLH.
    Contrast(Box<ContrastArgs>),
    /// Score events by how much their field values look like the suspect set (SpamBayes-style
    /// chi-square combining) and list the top ones with what drove their score.
    Score(Box<ScoreArgs>),
    /// Merge small segments into full ones (rows in time order, indexes rebuilt), beside
    /// running queries.
    Compact(CompactArgs),
    /// Drop events older than a cut: whole segments, and the rows of the segments it cuts.
    Retain(RetainArgs),
    /// Generate sample events, ingest them and show the result: a one-command tour.
    Demo(DemoArgs),
}

#[derive(Args, Debug)]
#[command(
    after_help = "Keys (--rows, --cols): a field (ClientIP, alert.signature_id, id.orig_h), a time
bucket (Datetime:1h, ts:5m, @timestamp:1d), hour(F), weekday(F), or a column of a joined map
(rules.category for --join rules.csv:...). Values: count (default), count_distinct(F) (exact),
approx_count_distinct(F) (HyperLogLog: exact to ~1,000 values, then 0.81% standard error),
sum(F), min(F), max(F), avg(F). Filters: = != < <= > >= , in (a, b), prefix, contains, is null,
and/or/not, parentheses; several --where are and-ed.

Examples:
  logpivot pivot --join rules.csv:RuleID=rule_id --rows rules.category --cols Action --totals
  logpivot pivot --rows Datetime:1h --cols Source --from 2024-06-09 --to 2024-06-10
  logpivot pivot --where RuleID=942100 --rows Datetime:1h
  logpivot pivot --rows ClientCountry --top 20
  logpivot pivot --rows ClientIP,ClientRequestPath --cols Action --top 100 --memory-limit 256MiB
  logpivot pivot --rows rules.category --value 'count_distinct(ClientIP)' --join rules.csv:RuleID=rule_id
  logpivot pivot --rows ClientCountry --value count --value 'approx_count_distinct(ClientIP)' --top 20
  logpivot pivot --rows 'hour(Datetime)' --cols ClientRequestUserAgent --cols-top 10
  logpivot pivot --where 'Action in (block, challenge) and EdgeResponseStatus >= 403 and not ClientCountry = ru' --rows Source
  logpivot pivot --rows Action --format arrow --output actions.arrow   # pandas/Polars/DuckDB
  logpivot pivot --rows Datetime:1h --cols Action --cols-top 5 --plot hourly.svg     # a line chart
  logpivot pivot --rows ClientCountry --cols Action --top 20 --plot heat.png          # a heatmap"
)]
pub struct PivotArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Row keys, comma-separated (commas inside parentheses or quotes do not split).
    #[arg(long, required = true, value_name = "KEY,...")]
    pub rows: Vec<String>,
    /// Column key: its values become columns.
    #[arg(long, value_name = "KEY")]
    pub cols: Option<String>,
    /// Aggregate (repeatable): count, count_distinct(F), approx_count_distinct(F), sum(F),
    /// min(F), max(F), avg(F).
    #[arg(long = "value", value_name = "AGG")]
    pub values: Vec<String>,
    /// Filter expression (repeatable; and-ed).
    #[arg(long = "where", short = 'w', value_name = "EXPR")]
    pub filters: Vec<String>,
    /// Start of the time range (inclusive): a date or RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the time range (exclusive).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Keep the N largest rows (exact; ties at the N-th row broken by key); 0 = all rows.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Keep the N largest column values; fold the rest into OTHER; 0 = all.
    #[arg(long, value_name = "N")]
    pub cols_top: Option<usize>,
    /// Add a Total column and a Total row.
    #[arg(long)]
    pub totals: bool,
    /// Row order: `total` (descending, the default) or a row key (ascending).
    #[arg(long, default_value = "total", value_name = "KEY|total")]
    pub sort: String,
    /// Also draw the table to FILE.svg or FILE.png: a time-bucket key gives a line per
    /// column value, two keys a heatmap, one key horizontal bars (the first value is drawn).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Joins, time zone, output, memory and threads: shared by pivot, contrast and score.
#[derive(Args, Debug)]
pub struct EngineArgs {
    /// Enrich with a CSV map: MAP.csv:FIELD=COLUMN (repeatable). Its columns are keys named
    /// after the file: rules.csv -> rules.category.
    #[arg(long = "join", value_name = "MAP.csv:FIELD=COLUMN")]
    pub joins: Vec<String>,
    /// Label for events whose join key has no row in the map (one per --join, in order).
    #[arg(long = "unmatched", value_name = "LABEL")]
    pub unmatched: Vec<String>,
    /// Time zone of time buckets, hour() and weekday(): UTC (default), +05:30, Europe/Berlin.
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Output format.
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "json", "arrow"])]
    pub format: String,
    /// Write to a file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Memory for group state before spilling to disk (e.g. 256MiB; default a quarter of RAM).
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// Where to spill (default: LOGPIVOT_SPILL_DIR or the system temp dir).
    #[arg(long, env = "LOGPIVOT_SPILL_DIR", value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
    /// Fail with a clear error instead of spilling more than this.
    #[arg(long, value_name = "SIZE")]
    pub max_spill: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
    /// Print the plan and what the query did (pruned segments, indexes used, rows scanned,
    /// bytes spilled) to stderr.
    #[arg(long)]
    pub explain: bool,
    /// Do not use bitmap indexes (for comparisons; results are identical).
    #[arg(long, hide = true)]
    pub no_index: bool,
}

#[derive(Args, Debug)]
#[command(
    after_help = "The suspect and baseline sets use the --where filter language; the baseline defaults to
every event outside the suspect set. Each value of each field is counted in both sets and
ranked by Robinson's smoothed probability f that an event with it is suspect (--sort f),
or by the G-test (--sort g) or Elastic's JLH (--sort jlh). Columns: counts and rates in both
sets, f, G, its p-value, the Benjamini-Hochberg q-value over all values tested, and JLH.
Default fields: columns with at most 10,000 distinct values (and not mostly unique), plus
hour() of the event time. See docs/STATISTICS.md.

Examples:
  logpivot contrast --suspect 'Datetime >= 2024-06-05T19:12:00Z and Datetime < 2024-06-05T21:12:00Z'
  logpivot contrast --suspect 'Datetime >= 2024-06-05T19:12:00Z and Datetime < 2024-06-05T21:12:00Z' \
      --fields ClientRequestUserAgent,ClientASN,ClientRequestPath --pairs --top 20
  logpivot contrast --suspect 'ClientIP = 203.0.113.9' --baseline 'not ClientIP = 203.0.113.9' --format csv
  logpivot contrast --suspect 'Hostname = WORKSTATION5' --fields Channel,EventID,SourceName
  logpivot contrast --suspect 'ClientIP = 203.0.113.9' --top 15 --plot contrast.svg"
)]
pub struct ContrastArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// The suspect events (filter expression), e.g. a time window.
    #[arg(long, required = true, value_name = "EXPR")]
    pub suspect: String,
    /// The known-good events (default: every event outside the suspect set).
    #[arg(long, value_name = "EXPR")]
    pub baseline: Option<String>,
    /// Fields to compare, comma-separated (any pivot key: hour(F), rules.category, ...).
    #[arg(long, value_name = "F,...")]
    pub fields: Vec<String>,
    /// Also compare every pair of the fields (e.g. user agent x ASN).
    #[arg(long)]
    pub pairs: bool,
    /// Test only values seen at least N times in the suspect set.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub min_count: u64,
    /// Show the N best values (0 = all tested values).
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub top: usize,
    /// Ranking: f (smoothed probability, default), g (G-test, over-represented first), jlh,
    /// z (log-odds ratio z-score with an informative prior), rr (rate ratio's lower bound).
    #[arg(long, default_value = "f", value_parser = ["f", "g", "jlh", "z", "rr"])]
    pub sort: String,
    /// Also draw the top values (at most 20) as paired bars of their suspect and baseline
    /// rates, to FILE.svg or FILE.png.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Restrict both sets (repeatable; and-ed).
    #[arg(long = "where", short = 'w', value_name = "EXPR")]
    pub filters: Vec<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Learns, per value of each field, the smoothed probability f that an event with it is
suspect (as `contrast` reports), then scores each event by combining the f of its values
with Fisher/Robinson chi-square combining, as SpamBayes scores a message from its words.
Values with f within 0.1 of 0.5 are ignored. A score near 1 means the event looks like the
suspect set, near 0 like the baseline; 0.5 means no evidence either way.

Examples:
  logpivot score --suspect 'Datetime >= 2024-06-05T19:12:00Z and Datetime < 2024-06-05T21:12:00Z' \
      --fields ClientRequestUserAgent,ClientASN,ClientIP,ClientRequestPath,'hour(Datetime)'
  logpivot score --suspect '...' --where 'Datetime >= 2024-06-08' --threshold 0.99 --format csv -o hits.csv"
)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// The suspect events (filter expression), e.g. a time window.
    #[arg(long, required = true, value_name = "EXPR")]
    pub suspect: String,
    /// The known-good events (default: every event outside the suspect set).
    #[arg(long, value_name = "EXPR")]
    pub baseline: Option<String>,
    /// Fields whose values are the evidence, comma-separated (default: as contrast).
    #[arg(long, value_name = "F,...")]
    pub fields: Vec<String>,
    /// Score only these events (repeatable; and-ed); default all.
    #[arg(long = "where", short = 'w', value_name = "EXPR")]
    pub filters: Vec<String>,
    /// List the N best events (default 20; 0 = all; with --threshold, all above it unless
    /// given).
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// List events scoring at least P (0..1).
    #[arg(long, value_name = "P")]
    pub threshold: Option<f64>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Where the data directory is.
#[derive(Args, Debug, Clone)]
pub struct DataArg {
    /// The data directory.
    #[arg(
        long = "data",
        short = 'd',
        env = "LOGPIVOT_DATA",
        default_value = "logpivot-data",
        value_name = "DIR"
    )]
    pub data: PathBuf,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  logpivot ingest firewall_events.ndjson.gz
  logpivot ingest --data /srv/lp --index alert.signature_id eve/           # a directory, sorted
  zcat big.json.gz | logpivot ingest -                                     # stdin
  logpivot ingest --time-field transaction.time modsec_audit.json.log
  logpivot ingest --data ct AWSLogs/                                       # CloudTrail {\"Records\": [...]}
  logpivot ingest --records data.events export.json                        # events in an envelope
  logpivot ingest --data /shared/lp --shards 8 logs/                        # a sharded root of 8 stores
  logpivot ingest --follow --commit-interval 10s /var/log/suricata/eve.json  # follow a growing log

Inputs: NDJSON, a JSON array of events, or JSON objects that hold the events in an array
(an envelope), each plain, gzip or zstd (detected from the bytes, not the name). A directory is
walked in sorted order and every file whose first bytes (decompressed, after a UTF-8 byte order
mark) are `{` or `[` is read, whatever its name (`eve.json.1`, `cowrie.json.2018-05-06`,
`batch-0001`); the others are listed as skipped. A first object whose first key is `Records`
(CloudTrail, S3 event notifications) or `records` (Azure Monitor) holding an array makes an
envelope without a flag.

Re-running the same command after a crash or kill resumes exactly where the last commit
stopped; a file that is already fully ingested adds nothing. Lines that are not JSON objects go
to DIR/rejects/ with file, line, byte offset and reason; events with invalid UTF-8 are kept
(repaired with U+FFFD) and their raw line is also written there.

Exit codes: 0 done (or nothing new to do), 1 error, 2 usage error, 3 a compressed input was
cut short or corrupt: every complete record before the break was committed and one reject
names the file and the decompressed offset; run the same command once the file is whole to
read the rest (exactly once). 130 interrupted.")]
pub struct IngestArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Input files or directories (walked in sorted order; every file that holds JSON, plain,
    /// .gz or .zst, whatever its name), or `-` for stdin.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// The dotted path of the array that holds the events inside each top-level object
    /// (`data.events` for `{"data": {"events": [...]}}`; `\.` for a dot inside a key).
    /// Default: `Records` or `records` when it is the first key of the first object and holds
    /// an array (CloudTrail, S3 notifications, Azure Monitor), else none.
    #[arg(long, value_name = "PATH")]
    pub records: Option<String>,
    /// List every skipped file with the reason (the summary names the first few).
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// The event-time field (a flattened name such as `Datetime` or `transaction.time`).
    /// Default: the first of Datetime, timestamp, @timestamp, ts, time, eventTime (CloudTrail)
    /// that an event has.
    #[arg(long, value_name = "NAME")]
    pub time_field: Option<String>,
    /// Columns to build a bitmap index on, comma-separated; added to the data directory's list,
    /// which starts as RuleID.
    #[arg(long, value_delimiter = ',', value_name = "FIELD,...")]
    pub index: Option<Vec<String>>,
    /// Parser threads (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
    /// Make the data directory a sharded root of N shards (each a complete store with its own
    /// writer lock; a file always goes to the same shard), as `logpivot.ray.ingest` writes on a
    /// Ray cluster. Fixed when the root is created; a sharded root is read as one store.
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// Stop at the first bad line instead of writing it to rejects/.
    #[arg(long)]
    pub strict: bool,
    /// Longest accepted line; longer ones are rejected (accepts K, M, G suffixes).
    #[arg(long, default_value = "16M", value_name = "SIZE")]
    pub max_line_bytes: String,
    /// Bytes per unit of parallel work (tests use small values to force many commits);
    /// `IngestOptions::default()`'s when absent.
    #[arg(long, value_name = "SIZE", hide = true)]
    pub chunk_bytes: Option<String>,
    /// Rows per segment (at most; a segment is cut at the first chunk boundary past it).
    #[arg(long, default_value_t = 1 << 20, value_name = "N")]
    pub segment_rows: usize,
    /// Wait for another ingest to finish instead of failing when the directory is locked.
    #[arg(long)]
    pub wait: bool,
    /// Keep reading the inputs as they grow (Suricata's eve.json, a Zeek log being written):
    /// an ingest every --commit-interval, rotation followed (the old file read to its end
    /// first), until Ctrl-C or SIGTERM, which commit what was written until then. Implies
    /// --compact.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: how often new events are committed (5s, 1m, 500ms is not accepted).
    #[arg(long, default_value = "5s", value_name = "AGE", requires = "follow")]
    pub commit_interval: String,
    /// After the run, merge small segments by the tiered policy (a size level is merged once
    /// it holds 10 segments), so a store fed by frequent small ingests stays healthy without
    /// running `logpivot compact`.
    #[arg(long)]
    pub compact: bool,
    /// No progress bar and no summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  logpivot compact                               # every segment under 1,048,576 rows
  logpivot compact --data /srv/lp --dry-run      # what it would merge
  logpivot compact --target-rows 200000

Small segments (fewer rows than --target-rows) are merged in event-time order into segments of
up to --target-rows rows, their rows sorted by event time, indexes rebuilt, and replace the old
ones in one atomic commit per merged group. Queries running meanwhile finish on the segments they
opened; the old files are deleted once no reader can still need them (docs/FORMAT.md 10.6).
It takes the writer lock, as an ingest does. A killed compaction leaves the store as it was
before its last commit; run it again. `logpivot ingest --compact` does the same by a tiered
policy after each ingest.")]
pub struct CompactArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Rows of a full segment: smaller ones are merged, up to this many rows.
    #[arg(long, default_value_t = 1 << 20, value_name = "N")]
    pub target_rows: u64,
    /// Show what would be merged; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub run: WriterRunArgs,
}

/// How `compact` and `retain` take the lock and report.
#[derive(Args, Debug)]
pub struct WriterRunArgs {
    /// Wait for another writer to finish instead of failing when the directory is locked.
    #[arg(long)]
    pub wait: bool,
    /// No progress and no summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  logpivot retain --older-than 90d               # keep the last 90 days
  logpivot retain --before 2024-06-01 --dry-run
  logpivot retain --before 2024-06-01T12:00:00Z --data /srv/lp

Drops every event whose event time is before the cut: segments entirely before it are dropped
(with their rejects files), segments it cuts through are rewritten without those rows, in one
atomic commit. Events without an event time are kept. The inputs stay recorded as ingested,
so ingesting an old file again does not bring its dropped events back. Queries running
meanwhile finish on what they opened.")]
pub struct RetainArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Drop events before this time: a date (2024-06-01), an RFC 3339 time or epoch seconds.
    #[arg(
        long,
        value_name = "TIME",
        conflicts_with = "older_than",
        required_unless_present = "older_than"
    )]
    pub before: Option<String>,
    /// Drop events older than this age from now: 90d, 12h, 2w, 30m.
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
    /// Show what would be dropped; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub run: WriterRunArgs,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  logpivot inspect
  logpivot inspect --segment 3
  logpivot inspect --verify --json | jq .columns")]
pub struct InspectArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Show only this segment's columns.
    #[arg(long, value_name = "ID")]
    pub segment: Option<u64>,
    /// Read every block, dictionary and index and check its checksum.
    #[arg(long)]
    pub verify: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  logpivot demo                      # 1M events into ./logpivot-data
  logpivot demo --events 100000 --data /tmp/lp")]
pub struct DemoArgs {
    /// Where to put the sample data directory (replaced if it holds a previous demo).
    #[arg(
        long = "data",
        short = 'd',
        default_value = "logpivot-data",
        value_name = "DIR"
    )]
    pub data: PathBuf,
    /// Number of events to generate.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Random seed (the same seed gives the same events).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}
