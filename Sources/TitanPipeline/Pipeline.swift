import TitanProtocol

/// A pipeline file, parsed and checked: a DAG ready to submit, plus what belongs to the pipeline
/// rather than to one run of it.
public struct Pipeline: Sendable, Equatable {
    /// The pipeline's `name` (default: the file's name without its extension, as the original
    /// Titan's `name` was optional); also the DAG's name.
    public var name: String
    /// `version`: the pipeline format the file says it is written for, as written (`"1.0"`);
    /// nil when unstated. Only version 1 (the original Titan's `1.0`, which this format extends)
    /// is read.
    public var version: String?
    /// The `schedule` key as written (a cron expression, checked when parsed), nil when absent.
    public var schedule: String?
    /// `timezone`: the IANA zone the schedule is read in (nil: UTC).
    public var timeZone: String?
    /// `overlap`: skip (default), allow or cancel-previous.
    public var overlap: String?
    /// `on_missed`: skip (default) or run-once.
    public var missed: String?
    /// The jobs, in file order, with working directories resolved to absolute paths. Script
    /// jobs run their script by its path relative to the job's working directory, where the
    /// worker puts it: bind the uploaded scripts with ``resolvedDag(files:project:)`` first.
    public var dag: DagSpec
    /// The script each `file:` job runs (by job id), to upload with the pipeline. Empty with a
    /// `project`, whose archive carries the scripts.
    public var scripts: [String: LocalFile]
    /// `project`: the folder (absolute) zipped, uploaded and extracted into the working
    /// directory of every job, as the original Titan did; nil without one.
    public var project: String?
    /// Where the pipeline came from: the absolute path of the file for `PipelineLoader.load`, the
    /// `path` argument for `PipelineLoader.parse`.
    public var sourcePath: String
    /// Keys read without effect here, with where and why (see `PipelineNote`).
    public var notes: [PipelineNote]

    public init(name: String, schedule: String? = nil, dag: DagSpec, sourcePath: String, timeZone: String? = nil,
                overlap: String? = nil, missed: String? = nil, scripts: [String: LocalFile] = [:], project: String? = nil,
                version: String? = nil, notes: [PipelineNote] = []) {
        self.name = name
        self.schedule = schedule
        self.timeZone = timeZone
        self.overlap = overlap
        self.missed = missed
        self.dag = dag
        self.sourcePath = sourcePath
        self.scripts = scripts
        self.project = project
        self.version = version
        self.notes = notes
    }

    /// The distinct local files to upload, in a stable order.
    public var files: [String] { Array(Set(scripts.values.map(\.path))).sorted() }

    /// The DAG with each job's artifacts set: its script (`files`, by local path, as uploaded)
    /// and the project archive. Throws if an upload is missing.
    public func resolvedDag(files: [String: ArtifactInfo], project: ArtifactInfo?) throws(PipelineError) -> DagSpec {
        var dag = self.dag
        for i in dag.jobs.indices {
            if let project {
                dag.jobs[i].spec.artifacts.append(ArtifactRef(hash: project.hash, size: project.size, kind: .archive, destination: ""))
            }
            guard let script = scripts[dag.jobs[i].id] else { continue }
            guard let info = files[script.path] else {
                throw PipelineError(path: sourcePath, message: "the script '\(script.path)' was not uploaded")
            }
            dag.jobs[i].spec.artifacts.append(ArtifactRef(hash: info.hash, size: info.size, kind: .file,
                                                          destination: script.destination, executable: script.executable))
        }
        return dag
    }
}

/// A script on this machine that a job runs on its worker.
public struct LocalFile: Sendable, Equatable, Hashable {
    /// Absolute path here.
    public var path: String
    /// Where the worker puts it, relative to the job's working directory.
    public var destination: String
    /// Executed directly (no interpreter): shipped with mode 0755.
    public var executable: Bool

    public init(path: String, destination: String, executable: Bool) {
        self.path = path
        self.destination = destination
        self.executable = executable
    }
}
