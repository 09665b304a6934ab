import TitanProtocol

/// DAG shapes shared by the cluster and the scheduling-only benchmarks. Job ids are `j0`, `j1`,
/// ... (the master's ids are `DAGID/j0`, ...).
enum DagShape {
    /// What every benchmark job runs.
    static let trueJob = JobSpec(command: ["/bin/true"])

    /// `count` jobs without edges: all ready at once.
    static func independent(_ count: Int, spec: JobSpec = trueJob) -> DagSpec {
        DagSpec(name: "independent-\(count)", jobs: (0..<count).map { DagJobSpec(id: "j\($0)", spec: spec) })
    }

    /// One root, `width` children of it, and one join depending on all of them (`width + 2`
    /// jobs): the root's completion releases `width` jobs at once; the join waits for them all.
    static func fanOut(_ width: Int, spec: JobSpec = trueJob) -> DagSpec {
        var jobs = [DagJobSpec(id: "root", spec: spec)]
        jobs.reserveCapacity(width + 2)
        for i in 0..<width { jobs.append(DagJobSpec(id: "j\(i)", spec: spec, dependsOn: ["root"])) }
        jobs.append(DagJobSpec(id: "join", spec: spec, dependsOn: (0..<width).map { "j\($0)" }))
        return DagSpec(name: "fan-out-\(width)", jobs: jobs)
    }

    /// `count` jobs, each depending on the one before: released one at a time.
    static func chain(_ count: Int, spec: JobSpec = trueJob) -> DagSpec {
        DagSpec(name: "chain-\(count)", jobs: (0..<count).map { i in
            DagJobSpec(id: "j\(i)", spec: spec, dependsOn: i == 0 ? [] : ["j\(i - 1)"])
        })
    }
}
