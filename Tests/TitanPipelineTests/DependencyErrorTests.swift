import Testing
import TitanPipeline

@Suite("Dependency errors")
struct DependencyErrorTests {
    @Test func unknownDependencyWithSuggestion() {
        expectError("""
            name: etl
            jobs:
              - id: extract
                command: [x]
              - id: load
                command: [x]
                depends_on:
                  - extract
                  - extrct
            """, line: 9, key: "jobs[1].depends_on[1]", "unknown job id 'extrct'", "did you mean 'extract'?")
    }

    @Test func unknownDependencyAsString() {
        expectError("""
            name: etl
            jobs:
              - id: a
                command: [x]
                depends_on: zzz
            """, line: 5, key: "jobs[0].depends_on", "unknown job id 'zzz'")
    }

    @Test func forwardReferencesAreFine() throws {
        let pipeline = try parsePipeline("""
            name: etl
            jobs:
              - {id: late, command: [x], depends_on: early}
              - {id: early, command: [x]}
            """)
        #expect(pipeline.dag.jobs.map(\.dependsOn) == [["early"], []])
    }

    @Test func duplicateDependency() {
        expectError("""
            name: etl
            jobs:
              - id: a
                command: [x]
              - id: b
                command: [x]
                depends_on:
                  - a
                  - a
            """, line: 9, key: "jobs[1].depends_on[1]", "'a' is listed twice", "also at line 8")
        expectError("""
            name: etl
            jobs:
              - {id: a, command: [x]}
              - {id: b, command: [x], depends_on: "a, a"}
            """, line: 4, key: "jobs[1].depends_on", "'a' is listed twice")
    }

    @Test func selfDependency() {
        expectError("""
            name: etl
            jobs:
              - id: a
                command: [x]
              - id: b
                command: [x]
                depends_on: [a, b]
            """, line: 5, key: "jobs[1].depends_on", "'b' depends on itself: b -> b")
    }

    @Test func twoJobCycle() {
        expectError("""
            name: etl
            jobs:
              - id: a
                command: [x]
                depends_on: b
              - id: b
                command: [x]
                depends_on: a
            """, line: 3, key: "jobs[0].depends_on", "dependency cycle: a -> b -> a")
    }

    @Test func threeJobCycleNamedInOrderFromTheFirstJobInTheFile() {
        // c runs after b, b after a, a after c: a -> b -> c -> a.
        expectError("""
            name: etl
            jobs:
              - id: start
                command: [x]
              - id: c
                command: [x]
                depends_on: [start, b]
              - id: a
                command: [x]
                depends_on: c
              - id: b
                command: [x]
                depends_on: a
              - id: end
                command: [x]
                depends_on: c
            """, line: 5, key: "jobs[1].depends_on", "dependency cycle: c -> a -> b -> c",
            "each job depends on the one before it")
    }

    @Test func longChainHasNoCycle() throws {
        var yaml = "name: chain\njobs:\n  - {id: j0, command: [x]}\n"
        for i in 1..<5_000 { yaml += "  - {id: j\(i), command: [x], depends_on: j\(i - 1)}\n" }
        let pipeline = try parsePipeline(yaml)
        #expect(pipeline.dag.jobs.count == 5_000)
        #expect(pipeline.dag.jobs.last?.dependsOn == ["j4998"])
    }

    @Test func longCycleIsFoundWithoutRecursion() {
        var yaml = "name: chain\njobs:\n  - {id: j0, command: [x], depends_on: j4999}\n"
        for i in 1..<5_000 { yaml += "  - {id: j\(i), command: [x], depends_on: j\(i - 1)}\n" }
        guard let error = parseError(yaml) else { return }
        #expect(error.line == 3)
        #expect(error.message.hasPrefix("dependency cycle: j0 -> j1 -> j2 -> "))
        #expect(error.message.contains("j4999 -> j0 "))
    }
}
