import TitanProtocol

/// A pipeline file, parsed and checked: a DAG ready to submit, plus what belongs to the pipeline
/// rather than to one run of it.
public struct Pipeline: Sendable, Equatable {
    /// The pipeline's `name`; also the DAG's name.
    public var name: String
    /// The `schedule` key as written (a cron expression, checked when parsed), nil when absent.
    public var schedule: String?
    /// `timezone`: the IANA zone the schedule is read in (nil: UTC).
    public var timeZone: String?
    /// `overlap`: skip (default), allow or cancel-previous.
    public var overlap: String?
    /// `on_missed`: skip (default) or run-once.
    public var missed: String?
    /// The jobs, in file order, with scripts and working directories resolved to absolute paths.
    public var dag: DagSpec
    /// Where the pipeline came from: the absolute path of the file for `PipelineLoader.load`, the
    /// `path` argument for `PipelineLoader.parse`.
    public var sourcePath: String

    public init(name: String, schedule: String? = nil, dag: DagSpec, sourcePath: String, timeZone: String? = nil,
                overlap: String? = nil, missed: String? = nil) {
        self.name = name
        self.schedule = schedule
        self.timeZone = timeZone
        self.overlap = overlap
        self.missed = missed
        self.dag = dag
        self.sourcePath = sourcePath
    }
}
