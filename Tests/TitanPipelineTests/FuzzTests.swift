import Foundation
import Testing
import TitanProtocol
import TitanTestSupport
@testable import TitanPipeline

/// Fuzz target for the pipeline loader: whatever the text (or the bytes of the file), a
/// `Pipeline` or a `PipelineError` that says where, never a crash or a hang.
/// Budget and seed: `TITAN_FUZZ_SECONDS` / `TITAN_FUZZ_SEED`.
@Suite("Fuzzing the pipeline loader")
struct FuzzTests {
    static let samples: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Samples").path

    static let corpus: [[UInt8]] = {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: samples)) ?? []
        let texts = files.filter { $0.hasSuffix(".yaml") }.sorted().compactMap {
            try? String(contentsOfFile: samples + "/" + $0, encoding: .utf8)
        }
        return (texts + [
            """
            name: all-keys
            schedule: "*/5 * * * *"
            timezone: Europe/Paris
            overlap: cancel-previous
            on_missed: run-once
            env: {A: "1", B: x}
            x-note: ignored
            jobs:
              - id: a
                command: [echo, "ü|x"]
                requirements: GPU, HIGH_MEM
                priority: 5
                delay: 2
                retries: 3
                retry_delay: 0.5
                timeout: 60
                env: {C: y}
                working_dir: /tmp
              - {id: gate, type: gate, hitl_message: "ok?", max_wait_seconds: 60, depends_on: a}
              - id: svc
                type: service
                command: srv {port}
                port: 8080
                health: tcp
                restart: always
                replicas: 2
                service_name: api
                depends_on: [gate]
                affinity: soft
            """,
        ]).map { Array($0.utf8) }
    }()

    static let dictionary: [[UInt8]] = [
        "name: ", "jobs:", "\n  - id: ", "\n    command: ", "depends_on: ", "affinity: hard", "type: service", "type: gate",
        "file: ", "port: auto", "health: http:/", "replicas: ", "schedule: ", "timezone: ", "&a ", "*a", "<<: *a", "!!binary ",
        "!!str ", "? ", "---\n", "...\n", "%YAML 1.1\n", "|\n", ">-\n", "\t", "'", "\"", "\\u0000", "{", "}", "[", "]",
        "- ", ": ", "#", "~", "null", ".inf", "0x1F", "1e400", "\u{FEFF}", "\u{301}", "\r\n",
    ].map { Array($0.utf8) }

    @Test("PipelineLoader: a pipeline, or an error naming the file and a place inside it")
    func pipelineYAML() {
        #expect(Self.corpus.count >= 8, "the samples are found")
        let report = Fuzzer.run("pipeline-yaml", corpus: Self.corpus, dictionary: Self.dictionary) { fuzzCase in
            // The loader reads files as bytes: both paths from bytes to text are exercised.
            let text: String
            do throws(PipelineError) {
                text = try PipelineLoader.decodeUTF8(Data(fuzzCase.bytes), path: "pipeline.yaml")
            } catch {
                try fuzzCheck(String(validating: fuzzCase.bytes, as: UTF8.self) == nil, "valid UTF-8 refused: \(error)")
                try fuzzCheck(error.line >= 1 && error.column >= 1 && error.message.contains("UTF-8"), "\(error)")
                return false
            }
            try fuzzCheck(Array(text.utf8) == fuzzCase.bytes, "decoding changed the text")
            let pipeline: Pipeline
            do throws(PipelineError) {
                pipeline = try PipelineLoader.parse(yaml: text, path: "pipeline.yaml", baseDirectory: Self.samples)
            } catch {
                let lines = Self.yamlLineCount(text)
                try fuzzCheck(error.path == "pipeline.yaml" && !error.message.isEmpty, "\(error)")
                try fuzzCheck(error.line >= 0 && error.column >= 0 && error.line <= lines + 1,
                              "line \(error.line) of a \(lines)-line text: \(error)")
                try fuzzCheck(error.description.hasPrefix("pipeline.yaml"), "\(error)")
                return false
            }
            // What the loader accepts is a DAG the master will accept the shape of.
            let ids = pipeline.dag.jobs.map(\.id)
            try fuzzCheck(!ids.isEmpty && Set(ids).count == ids.count, "job ids \(ids)")
            for job in pipeline.dag.jobs {
                try fuzzCheck(job.dependsOn.allSatisfy { ids.contains($0) && $0 != job.id }, "\(job.id) depends on \(job.dependsOn)")
            }
            for script in pipeline.scripts.values {
                let ref = ArtifactRef(hash: String(repeating: "a", count: 64), size: 0, kind: .file, destination: script.destination)
                try fuzzCheck(ref.problem == nil, "script destination refused by the master: \(ref.problem ?? "")")
            }
            return true
        }
        #expect(report.failure == nil, "\(report)")
        #expect(report.seedsAccepted == Self.corpus.count, "\(report)")
    }

    /// Lines as YAML counts them: `\n`, `\r\n` and a lone `\r` (and, in YAML 1.1, NEL, LS and PS)
    /// each end one.
    static func yamlLineCount(_ text: String) -> Int {
        var lines = 1
        var previous: Unicode.Scalar = " "
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": if previous != "\r" { lines += 1 }
            case "\r", "\u{85}", "\u{2028}", "\u{2029}": lines += 1
            default: break
            }
            previous = scalar
        }
        return lines
    }

    /// Shapes a mutation fuzzer reaches only by luck: nesting past libyaml's limit, and aliases
    /// that would expand to a billion nodes where the schema expects strings.
    @Test("deep nesting and alias bombs are errors naming the line")
    func nestingAndAliases() {
        var bomb = "x-bomb:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1 ... 8 {
            let aliases: [String] = Array(repeating: "*a\(i - 1)", count: 10)
            bomb += "  a\(i): &a\(i) [\(aliases.joined(separator: ", "))]\n"
        }
        let deepFlow: String = "name: x\njobs: " + String(repeating: "[", count: 100_000)
        let indents: [String] = (0 ..< 5000).map { (n: Int) -> String in String(repeating: " ", count: n) + "- " }
        let deepBlock: String = "name: x\njobs:\n" + indents.joined(separator: "\n")
        let bombJobs: String = bomb + "name: x\njobs: *a8\n"
        let bombCommand: String = bomb + "name: x\njobs:\n  - id: a\n    command: *a8\n"
        let cases: [(yaml: String, line: Int, key: String)] = [
            (deepFlow, 2, ""),
            (deepBlock, 1002, ""),
            // An alias is reported where its anchor is (line 9 holds `&a8`).
            (bombJobs, 9, "jobs[0]"),
            (bombCommand, 9, "jobs[0].command[0]"),
        ]
        for (yaml, line, key) in cases {
            let error = parseError(yaml)
            #expect(error?.line == line && error?.key == key, "\(String(describing: error))")
        }
    }
}
