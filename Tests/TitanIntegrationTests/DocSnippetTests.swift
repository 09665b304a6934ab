import Foundation
import Testing

/// The docs run (issue 13): every code block of every Markdown file is type-checked, loaded,
/// run or checked against the binaries, unless marked `<!-- not-tested: reason -->` right
/// before it; and nothing in the docs points outside the repository. Each problem is reported
/// at its file and line (see DocBlocks.swift for the markers, DocChecks.swift for the checks).
@Suite(.serialized) struct DocSnippetTests {
    static let files = Docs.markdownFiles()

    static func blocks(_ languages: Set<String>) throws -> [DocBlock] {
        try files.flatMap { DocBlock.blocks(in: try Docs.read($0), file: $0) }.filter { languages.contains($0.language) }
    }

    static let swift: Set<String> = ["swift"]
    static let shell: Set<String> = ["sh", "bash", "shell", "console"]
    static let python: Set<String> = ["python", "py", "python3"]
    static let yaml: Set<String> = ["yaml", "yml"]

    private func record(_ problems: [DocProblem]) {
        for problem in problems {
            Issue.record(Comment(rawValue: problem.description),
                         sourceLocation: SourceLocation(fileID: "Titan/\(problem.file)", filePath: Docs.root + "/" + problem.file,
                                                        line: problem.line, column: 1))
        }
    }

    private func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("titan-docs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func theDocsAreFound() throws {
        // If the walk found nothing, every other test here would pass vacuously.
        for expected in ["README.md", "docs/ARCHITECTURE.md", "python/README.md"] {
            #expect(Self.files.contains(expected), "\(Self.files)")
        }
        #expect(try Self.blocks(Self.swift).count >= 1)
        #expect(try Self.blocks(Self.shell).count >= 3)
        #expect(try Self.blocks(Self.python).count >= 3)
        #expect(try Self.blocks(Self.yaml).count >= 1)
    }

    @Test func everyBlockIsCheckedOrMarkedWithAReason() throws {
        var problems: [DocProblem] = []
        let checked = Self.swift.union(Self.shell).union(Self.python).union(Self.yaml)
        for file in Self.files {
            for block in DocBlock.blocks(in: try Docs.read(file), file: file) {
                func add(_ message: String) { problems.append(DocProblem(file: file, line: block.line, message: message)) }
                switch block.marker {
                case .notTested(let reason) where reason.isEmpty:
                    add("marked not-tested without a reason: <!-- not-tested: why it cannot run -->")
                case .compileOnly(let reason):
                    if reason.isEmpty { add("marked compile-only without a reason: <!-- compile-only: why it cannot run -->") }
                    if !Self.python.contains(block.language) { add("compile-only is for Python blocks") }
                case .signature(let symbol):
                    if symbol.isEmpty { add("a signature marker names the function: <!-- signature: titan_sdk.TitanJob -->") }
                    if !Self.python.contains(block.language) { add("signature is for Python blocks") }
                case .modules:
                    if !block.language.isEmpty && block.language != "text" { add("the modules marker is for an untagged block") }
                    problems += try DocChecks.moduleProblems(block)
                case .notTested, nil:
                    if block.marker == nil && !checked.contains(block.language) {
                        add("a \(block.language.isEmpty ? "block without a language" : "'\(block.language)' block") that nothing checks: "
                            + "tag it (swift, sh, python, yaml) or mark it <!-- not-tested: reason -->")
                    }
                }
            }
        }
        record(problems)
    }

    @Test func swiftBlocksTypeCheckAgainstTheLibraryProducts() async throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for block in try Self.blocks(Self.swift) where block.marker == nil {
            record(try await DocChecks.swiftProblems(block, scratch: dir))
        }
    }

    /// Shell blocks, and `titan ...` commands quoted in the text.
    @Test func shellBlocksUseOnlyCommandsFlagsAndPathsThatExist() async throws {
        let cli = DocChecks.liveCLIChecker()
        for block in try Self.blocks(Self.shell) where block.marker == nil {
            record(try await DocChecks.shellProblems(block, cli: cli))
        }
        for file in Self.files {
            record(try await DocChecks.inlineCommandProblems(try Docs.read(file), file: file, cli: cli))
        }
    }

    @Test func pythonBlocksCompileMatchTheSDKAndRunWhereSelfContained() async throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let blocks = try Self.blocks(Self.python)
        for block in blocks {
            switch block.marker {
            case .compileOnly: record(try await DocChecks.pythonProblems(block, mode: .check, scratch: dir))
            case .signature(let symbol): record(try await DocChecks.pythonProblems(block, mode: .signature(symbol), scratch: dir))
            case .notTested, .modules: break
            case nil: break
            }
        }
        let runnable = blocks.filter { $0.marker == nil }
        guard !runnable.isEmpty else { return }
        // Unmarked blocks run as a user would run them: against a master and a worker, with the
        // master's local credential.
        let master = try await NodeProcess(["--role", "master", "--port", "0"])
        defer { master.signal(SIGKILL) }  // a no-op once it exited
        let address = "127.0.0.1:\(try #require(master.port))"
        let worker = try await NodeProcess(["--role", "worker", "--master", address, "--id", "docs-w1"])
        defer { worker.signal(SIGKILL) }  // a no-op once it exited
        for block in runnable {
            record(try await DocChecks.pythonProblems(block, mode: .run(master: address), scratch: dir))
        }
        #expect(await worker.terminate() == 0)
        #expect(await master.terminate() == 0)
    }

    @Test func yamlBlocksArePipelinesTheLoaderTakes() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for block in try Self.blocks(Self.yaml) where block.marker == nil {
            record(try DocChecks.yamlProblems(block, scratch: dir))
        }
    }

    @Test func docsPointOnlyInsideTheRepository() throws {
        for file in Self.files {
            record(try DocChecks.pathProblems(try Docs.read(file), file: file))
        }
    }

    @Test func testsTheDocsNameExist() throws {
        let known = try DocChecks.testNames()
        for file in Self.files {
            record(try DocChecks.testNameProblems(try Docs.read(file), file: file, known: known))
        }
    }

    /// A user who depends on the TitanClient or TitanRuntime product and imports only it can
    /// name everything that product's API takes and returns.
    @Test func eachLibraryProductExportsTheTypesItsAPIIsWrittenIn() async throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = """
            import TitanClient

            func use(_ loop: EventLoop, _ token: AuthToken, _ tls: TLSContext) async throws {
                let client = try await TitanClient.connect(to: "127.0.0.1:9090", loop: loop, credentials: .token(token),
                                                           transport: .tls(tls, serverName: nil), timeouts: Timeouts(requestMs: 1_000))
                let spec = JobSpec(command: ["true"])
                let (id, updates): (String, AsyncStream<JobUpdate>) = try await client.submitAndFollow(spec)
                for await _ in updates {}
                let info: JobInfo = try await client.status(id)
                _ = info.state
                let _: DagSpec.Type = DagSpec.self
                let _: [WorkerInfo] = try await client.workers()
                await client.close()
            }
            """
        let runtime = """
            import TitanRuntime

            func use(_ loop: EventLoop, _ token: AuthToken?, _ tls: TLSContext?) async throws {
                var master = MasterConfig.loopbackAnyPort
                master.fsync = FsyncPolicy.always
                master.tls = tls
                var worker = WorkerConfig()
                worker.token = token
                worker.reconnect = Backoff(initialMs: 100, maxMs: 1_000)
                let cluster = try await EmbeddedCluster.start(master: master, workers: [worker], loop: loop)
                let _: JobSpec.Type = JobSpec.self
                let _: DagSpec.Type = DagSpec.self
                await cluster.stop()
            }
            """
        for (name, source) in [("TitanClient", client), ("TitanRuntime", runtime)] {
            let (status, output) = try await DocChecks.typeCheck(source, scratch: dir)
            #expect(status == 0, "import \(name) alone does not show its API's types:\n\(output)")
        }
    }

    /// The checks find what they are for: docs made wrong on purpose.
    @Test func theChecksCatchWrongDocs() async throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let markdown = """
            Text.

            <!-- not-tested: needs a GPU -->
            ```sh
            titan run --cap GPU -- nvidia-smi
            ```

            ```swift
            import TitanClient
            import TitanMaster
            let x: Int = "text"
            ```

               ~~~~python
               print(1)
               ~~~~
            """
        let blocks = DocBlock.blocks(in: markdown, file: "x.md")
        #expect(blocks.map(\.language) == ["sh", "swift", "python"])
        #expect(blocks.map(\.line) == [4, 8, 14])
        #expect(blocks[0].marker == .notTested(reason: "needs a GPU"))
        #expect(blocks[1].marker == nil && blocks[1].lines.count == 3)
        #expect(blocks[2].lines == ["   print(1)"])
        #expect(DocMarker.parse("<!-- compile-only -->") == .compileOnly(reason: ""))
        #expect(DocMarker.parse("<!-- a comment -->") == nil)

        // Swift: a module that is not a product, and code that does not type-check, at their lines.
        let swiftProblems = try await DocChecks.swiftProblems(blocks[1], scratch: dir)
        #expect(swiftProblems.contains { $0.line == 10 && $0.message.contains("TitanMaster, which is not a library product") })
        #expect(swiftProblems.contains { $0.line == 8 && $0.message.contains("x.md:11:") }, "\(swiftProblems)")

        // Shell: the docs' notation, then flags, values, subcommands and arguments the binaries refuse.
        let lexed = ShellLexer.commands(in: """
            titan-node --role master [--bind 127.0.0.1] --fsync always|everysec|no   # a comment
            titan run -- sh -c 'echo a; exit 3'; titan logs x | grep -v y
            titan restart server#2 \\
                --master h:1
            """)
        #expect(lexed == [
            ShellCommand(words: ["titan-node", "--role", "master", "--bind", "127.0.0.1", "--fsync", "always|everysec|no"], line: 1),
            ShellCommand(words: ["titan", "run", "--", "sh", "-c", "echo a; exit 3"], line: 2),
            ShellCommand(words: ["titan", "logs", "x"], line: 2),
            ShellCommand(words: ["grep", "-v", "y"], line: 2),
            ShellCommand(words: ["titan", "restart", "server#2", "--master", "h:1"], line: 3),
        ])
        let cli = DocChecks.liveCLIChecker()
        #expect(try await cli.problems(["titan", "run", "--detach", "--cap", "GPU", "--", "x", "--not-ours"]).isEmpty)
        #expect(try await cli.problems(["titan", "kv", "incr", "counter", "--by", "5"]).isEmpty)
        #expect(try await cli.problems(["titan", "run", "--no-such-flag", "x"]) == ["'titan run' has no option '--no-such-flag'"])
        #expect(try await cli.problems(["titan", "nosuch"]) == ["'titan' has no subcommand 'nosuch'"])
        #expect(try await cli.problems(["titan", "kv", "put", "k"]) == ["'titan kv' has no subcommand 'put'"])
        #expect(try await cli.problems(["titan-node", "--role", "master", "--fsync", "sometimes"])
                == ["'titan-node --fsync' takes always, everysec, no, not 'sometimes'"])
        #expect(try await cli.problems(["titan", "jobs", "extra"]) == ["'titan jobs' takes no arguments, got 'extra'"])
        #expect(try await cli.problems(["titan", "logs", "job-1", "--tail"]) == ["'titan logs --tail' needs a value"])
        let shell = DocBlock(file: "x.md", line: 1, language: "sh",
                             lines: ["titan submit Samples/nosuch.yaml", "scripts/nosuch.sh", "cd Samples", "titan run hello.sh"])
        let shellProblems = try await DocChecks.shellProblems(shell, cli: cli)
        #expect(shellProblems.map(\.line) == [2, 3], "\(shellProblems)")
        let inline = try await DocChecks.inlineCommandProblems("Run `titan run --detach -- x`.\nOr `titan run --detached`.",
                                                               file: "x.md", cli: cli)
        #expect(inline == [DocProblem(file: "x.md", line: 2, message: "'titan run' has no option '--detached'")])

        // Python: a keyword the SDK does not take, a method it lacks, a missing import, a wrong default.
        let python = DocBlock(file: "x.md", line: 1, language: "python", lines: [
            "from titan_sdk import TitanClient, TitanJob, NoSuchThing",
            "client = TitanClient()",
            "client.submit(TitanJob(\"a\", command=[\"true\"], retrys=3))",
            "client.no_such_method()",
            "raise AuthenticationError()",
        ])
        let pythonProblems = try await DocChecks.pythonProblems(python, mode: .check, scratch: dir)
        #expect(pythonProblems.map(\.line).sorted() == [2, 4, 5, 6], "\(pythonProblems)")
        let signature = DocBlock(file: "x.md", line: 1, language: "python", lines: [
            "TitanJob(job_id=None, filename=None, job_type=\"RUN\", args=None, parents=None, port=0)",
        ])
        let signatureProblems = try await DocChecks.pythonProblems(signature, mode: .signature("titan_sdk.TitanJob"), scratch: dir)
        #expect(signatureProblems.contains { $0.message.contains("'job_type' defaults to 'RUN_PAYLOAD'") }, "\(signatureProblems)")
        #expect(signatureProblems.contains { $0.message.contains("parameter 'is_archive' the docs leave out") })

        // YAML: a pipeline the loader refuses, at its line.
        let yaml = DocBlock(file: "x.md", line: 5, language: "yaml",
                            lines: ["name: x", "jobs:", "  - id: a", "    command: \"true\"", "    dependson: b"])
        let yamlProblems = try DocChecks.yamlProblems(yaml, scratch: dir)
        #expect(yamlProblems.count == 1 && yamlProblems[0].line == 10 && yamlProblems[0].message.contains("dependson"),
                "\(yamlProblems)")

        // Paths: links and paths that leave the repository or lead nowhere, machine paths.
        let paths = try DocChecks.pathProblems("""
            See [the README](../README.md) and [shared](../../shared/notes.md).
            Built from `/work/main` and `Sources/TitanNope/X.swift`; `Sources/TitanLoop` exists.
            A placeholder: `Samples/<name>.yaml`, an ignored path: `Fuzz/artifacts/`, a typo: `docs/ARCHITECTURE2.md`.
            """, file: "docs/x.md")
        #expect(paths.map(\.line) == [1, 1, 2, 2, 3], "\(paths)")
        #expect(paths.contains { $0.message.contains("'../../shared/notes.md' points outside the repository") })
        #expect(try DocChecks.testNameProblems("`NoSuchTests` and `DocSnippetTests`", file: "x.md",
                                               known: try DocChecks.testNames()).count == 1)
    }
}
