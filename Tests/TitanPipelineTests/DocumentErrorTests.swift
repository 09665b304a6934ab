import Testing
import TitanPipeline

@Suite("Document errors")
struct DocumentErrorTests {
    @Test func emptyDocument() throws {
        for yaml in ["", "\n\n", "# only a comment\n"] {
            let error = try #require(parseError(yaml))
            #expect(error.line == 1)
            #expect(error.message.contains("the pipeline is empty"))
            #expect(error.description.hasPrefix("pipeline.yaml:1:1: "))
        }
    }

    @Test func topLevelSequence() {
        expectError("- id: a\n  command: [x]\n", line: 1, key: "", "expected a mapping", "got a sequence")
    }

    @Test func topLevelScalar() throws {
        let error = try #require(parseError("just text\n"))
        #expect(error.line == 1 && error.key.isEmpty)
        #expect(error.description == "pipeline.yaml:1:1: expected a mapping with 'name' and 'jobs' at the top level, got 'just text'")
    }

    @Test func topLevelNull() throws {
        let error = try #require(parseError("~\n"))
        #expect(error.message.contains("got null"))
    }

    @Test func badIndentation() throws {
        let error = try #require(parseError("""
            name: etl
            jobs:
              - id: a
                command: [x]
               priority: 2
            """))
        #expect(error.line == 5)
        #expect(error.column > 0)
        #expect(error.key.isEmpty)
        #expect(error.message.hasPrefix("invalid YAML: "))
        #expect(error.description.hasPrefix("pipeline.yaml:5:"))
    }

    @Test func unclosedQuote() throws {
        let error = try #require(parseError("""
            name: "etl
            jobs:
              - id: a
                command: [x]
            """))
        #expect(error.line >= 1)
        #expect(error.message.contains("invalid YAML"))
        #expect(error.message.contains("quoted scalar"))
        #expect(error.message.contains("line 1, column 7"))
    }

    @Test func unclosedFlowSequence() throws {
        let error = try #require(parseError("name: etl\njobs:\n  - id: a\n    command: [x, y\n  - id: b\n"))
        #expect(error.line >= 4)
        #expect(error.message.hasPrefix("invalid YAML: "))
    }

    @Test func tabIndentation() throws {
        let error = try #require(parseError("name: etl\njobs:\n\t- id: a\n"))
        #expect(error.line == 3)
        #expect(error.message.hasPrefix("invalid YAML: "))
    }

    @Test func duplicateKeyPointsAtTheSecond() throws {
        let error = try #require(parseError("""
            name: etl
            jobs:
              - id: a
                command: [x]
                # a comment

                command: [y]
            """))
        #expect(error.line == 7)
        #expect(error.column == 5)
        #expect(error.message == "duplicate key 'command' (first at line 4)")
    }

    @Test func duplicateKeyInFlowMapping() throws {
        let error = try #require(parseError("name: etl\njobs:\n  - {id: a, id: b, command: [x]}\n"))
        #expect(error.line == 3)
        #expect(error.message.contains("duplicate key 'id'"))
    }

    @Test func undefinedAlias() throws {
        let error = try #require(parseError("name: etl\njobs:\n  - id: a\n    command: *nothing\n"))
        #expect(error.line == 4)
        #expect(error.message.contains("undefined alias"))
    }

    @Test func multipleDocuments() throws {
        let error = try #require(parseError("name: a\njobs: [{id: a, command: [x]}]\n---\nname: b\n"))
        #expect(error.line == 3)
        #expect(error.message == "invalid YAML: expected a single document in the stream (line 1, column 1) but found another document")
    }

    @Test func controlCharacter() throws {
        let error = try #require(parseError("name: etl\njobs:\n  - id: a\u{1}\n"))
        #expect(error.line == 3)
        #expect(error.message.hasPrefix("invalid YAML: "))
    }

    @Test func descriptionWithoutPosition() {
        #expect(PipelineError(path: "p.yaml", message: "no such file").description == "p.yaml: no such file")
        #expect(PipelineError(path: "p.yaml", line: 3, message: "m").description == "p.yaml:3: m")
        #expect(PipelineError(path: "p.yaml", line: 3, column: 2, key: "jobs[0]", message: "m").description
                == "p.yaml:3:2: jobs[0]: m")
    }
}
