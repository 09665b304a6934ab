import Testing
import TitanPipeline

@Suite("Schema errors")
struct SchemaErrorTests {
    @Test func descriptionFormat() throws {
        let error = try #require(parseError("""
            name: etl
            jobs:
              - id: a
                command: [x]
              - id: b
                command: [x]
              - id: c
                command: [x]
                priority: high
            """))
        #expect(error.description == "pipeline.yaml:9:15: jobs[2].priority: expected an integer, got 'high'")
        #expect(error == PipelineError(path: "pipeline.yaml", line: 9, column: 15, key: "jobs[2].priority",
                                       message: "expected an integer, got 'high'"))
    }

    // MARK: Top level

    @Test func nullName() {
        expectError("name:\njobs:\n  - {id: a, command: [x]}\n", line: 1, key: "name", "got null")
    }

    @Test func emptyName() {
        expectError("name: ''\njobs:\n  - {id: a, command: [x]}\n", line: 1, key: "name", "must not be empty")
    }

    @Test func nameMustBeAString() {
        expectError("name: [a, b]\njobs:\n  - {id: a, command: [x]}\n", line: 1, key: "name",
                    "expected a string, got a sequence")
    }

    @Test func missingJobs() {
        expectError("name: etl\n", line: 1, key: "jobs", "missing required key 'jobs'")
    }

    @Test func nullJobs() {
        expectError("name: etl\njobs:\n", line: 2, key: "jobs", "expected a sequence of jobs, got null")
    }

    @Test func emptyJobs() {
        expectError("name: etl\njobs: []\n", line: 2, key: "jobs", "at least one job")
    }

    @Test func jobsMustBeASequence() {
        expectError("name: etl\njobs:\n  a: {command: [x]}\n", line: 3, key: "jobs",
                    "expected a sequence of jobs, got a mapping")
    }

    @Test func jobMustBeAMapping() {
        expectError("name: etl\njobs:\n  - {id: a, command: [x]}\n  - echo hi\n", line: 4, key: "jobs[1]",
                    "expected a job", "got 'echo hi'")
    }

    @Test func unknownTopLevelKeyWithSuggestion() {
        expectError("name: etl\nschedul: daily\njobs:\n  - {id: a, command: [x]}\n", line: 2, key: "schedul",
                    "unknown key 'schedul'", "did you mean 'schedule'?")
    }

    @Test func unknownTopLevelKeyWithoutSuggestion() throws {
        let error = try #require(parseError("name: etl\njobs:\n  - {id: a, command: [x]}\nowner: me\n"))
        #expect(error.line == 4 && error.key == "owner")
        #expect(error.message == "unknown key 'owner'")
    }

    @Test func pipelineEnvMustBeAMapping() {
        expectError("name: etl\nenv: [A=1]\njobs:\n  - {id: a, command: [x]}\n", line: 2, key: "env",
                    "expected a mapping")
    }

    @Test func scheduleMustBeAString() {
        expectError("name: etl\nschedule: {cron: x}\njobs:\n  - {id: a, command: [x]}\n", line: 2, key: "schedule",
                    "expected a string, got a mapping")
    }

    // MARK: Job keys

    @Test func unknownJobKeySuggestsDependsOn() {
        expectError("""
            name: etl
            jobs:
              - id: a
                command: [x]
              - id: b
                command: [x]
                depend_on: [a]
            """, line: 7, key: "jobs[1].depend_on", "unknown key 'depend_on'", "did you mean 'depends_on'?")
    }

    @Test func camelCaseKeySuggestsSnakeCase() {
        expectError("""
            name: etl
            jobs:
              - id: a
                command: [x]
                retryDelay: 3
            """, line: 5, key: "jobs[0].retryDelay", "did you mean 'retry_delay'?")
    }

    @Test func missingId() {
        expectError("""
            name: etl
            jobs:
              - command: [x]
                priority: 2
            """, line: 3, key: "jobs[0].id", "missing required key 'id'")
    }

    @Test func nullId() {
        expectError("name: etl\njobs:\n  - id:\n    command: [x]\n", line: 3, key: "jobs[0].id", "got null")
    }

    @Test(arguments: ["a b", "a/b", "é", "a:b"])
    func invalidIds(id: String) {
        expectError("name: etl\njobs:\n  - id: '\(id)'\n    command: [x]\n", line: 3, key: "jobs[0].id",
                    "invalid id '\(id)'", "letters, digits")
    }

    @Test func idTooLong() {
        expectError("name: etl\njobs:\n  - id: \(String(repeating: "a", count: 129))\n    command: [x]\n",
                    line: 3, key: "jobs[0].id", "129", "128")
    }

    @Test func duplicateIdNamesBothLines() {
        expectError("""
            name: etl
            jobs:
              - id: a
                command: [x]
              - id: b
                command: [x]
              - id: a
                command: [y]
            """, line: 7, key: "jobs[2].id", "duplicate job id 'a'", "jobs[0] at line 3")
    }

    @Test func fileAndCommandTogether() {
        expectError("""
            name: etl
            jobs:
              - id: a
                command: [x]
                file: run.sh
            """, line: 5, key: "jobs[0].file", "either 'file' or 'command', not both")
    }

    @Test func neitherFileNorCommand() {
        expectError("""
            name: etl
            jobs:
              - id: a
              - id: b
                priority: 3
            """, line: 3, key: "jobs[0]", "'a' needs either 'file'", "'command'")
    }

    @Test func nullCommandCountsAsMissing() {
        expectError("name: etl\njobs:\n  - id: a\n    command:\n", line: 3, key: "jobs[0]", "needs either")
    }

    @Test func commandMustBeStringsOrString() {
        expectError("name: etl\njobs:\n  - id: a\n    command: {run: x}\n", line: 4, key: "jobs[0].command",
                    "expected a string or a sequence of strings, got a mapping")
    }

    @Test func commandElementMustBeAString() {
        expectError("name: etl\njobs:\n  - id: a\n    command:\n      - echo\n      - [nested]\n", line: 6,
                    key: "jobs[0].command[1]", "expected a string, got a sequence")
    }

    @Test func emptyCommand() {
        expectError("name: etl\njobs:\n  - id: a\n    command: []\n", line: 4, key: "jobs[0].command",
                    "empty sequence")
        expectError("name: etl\njobs:\n  - id: a\n    command: '  '\n", line: 4, key: "jobs[0].command",
                    "empty string")
    }

    @Test func argsWithStringCommand() {
        expectError("""
            name: etl
            jobs:
              - id: a
                command: echo hi
                args: there
            """, line: 5, key: "jobs[0].args", "put the arguments in the command string")
    }

    @Test func argsMustBeStrings() {
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    args: {a: b}\n", line: 5,
                    key: "jobs[0].args", "expected a string or a sequence of strings, got a mapping")
    }

    @Test func unknownType() {
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    type: rnu\n", line: 5,
                    key: "jobs[0].type", "expected 'run', 'service' or 'gate', got 'rnu'", "did you mean 'run'?")
    }

    @Test func requirementAndRequirements() {
        expectError("""
            name: etl
            jobs:
              - id: a
                command: [x]
                requirement: GPU
                requirements: [GPU]
            """, line: 6, key: "jobs[0].requirements", "'requirement' is already given at line 5")
    }

    @Test func requirementMustBeStrings() {
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    requirement: {gpu: 1}\n", line: 5,
                    key: "jobs[0].requirement", "expected a string or a sequence of strings")
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    requirements: [GPU, 'HIGH MEM']\n",
                    line: 5, key: "jobs[0].requirements[1]", "invalid requirement tag 'HIGH MEM'")
    }

    @Test func dependsOnMustBeStrings() {
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    depends_on: {b: 1}\n", line: 5,
                    key: "jobs[0].depends_on", "expected a string or a sequence of strings, got a mapping")
    }

    @Test func envValuesMustBeScalars() {
        expectError("""
            name: etl
            jobs:
              - id: a
                command: [x]
                env:
                  GOOD: 1
                  BAD: [1, 2]
            """, line: 7, key: "jobs[0].env.BAD", "expected a string value, got a sequence")
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    env:\n      NULL_VALUE:\n", line: 6,
                    key: "jobs[0].env.NULL_VALUE", "got null")
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    env: {A=B: c}\n", line: 5,
                    key: "jobs[0].env.A=B", "invalid variable name")
    }

    @Test func nonStringKey() {
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    [k]: v\n", line: 5, key: "jobs[0]",
                    "keys must be plain strings")
    }

    @Test func badMergeKey() {
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    <<: 3\n", line: 5, key: "jobs[0]",
                    "'<<' expects a mapping")
    }

    // MARK: Numbers

    @Test func priorityNotAnInteger() {
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    priority: 2.5\n", line: 5,
                    key: "jobs[0].priority", "expected an integer, got '2.5'")
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    priority: [1]\n", line: 5,
                    key: "jobs[0].priority", "expected an integer, got a sequence")
    }

    @Test func quotedNumberGetsAHint() {
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    priority: \"5\"\n", line: 5,
                    key: "jobs[0].priority", "expected an integer, got '5'", "remove the quotes")
    }

    @Test func priorityOutOfRange() {
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    priority: 2147483648\n", line: 5,
                    key: "jobs[0].priority", "between -2147483648 and 2147483647")
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    priority: 99999999999999999999999\n",
                    line: 5, key: "jobs[0].priority", "out of range")
    }

    @Test(arguments: ["-1", "10001"])
    func retriesOutOfRange(value: String) {
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    retries: \(value)\n", line: 5,
                    key: "jobs[0].retries", "between 0 and 10000, got \(value)")
    }

    @Test func delayErrors() {
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    delay: -1\n", line: 5, key: "jobs[0].delay",
                    "at least 0 seconds")
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    delay: 31536001\n", line: 5,
                    key: "jobs[0].delay", "at most one year")
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    delay: soon\n", line: 5,
                    key: "jobs[0].delay", "expected a number of seconds, got 'soon'")
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    delay: 99999999999999999999999\n", line: 5,
                    key: "jobs[0].delay", "at most one year")
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    delay: .inf\n", line: 5,
                    key: "jobs[0].delay", "expected a number of seconds")
    }

    @Test func timeoutMustBePositive() {
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    timeout: 0\n", line: 5,
                    key: "jobs[0].timeout", "more than 0 seconds", "leave 'timeout' out")
    }

    @Test func retryDelayNegative() {
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    retry_delay: -0.5\n", line: 5,
                    key: "jobs[0].retry_delay", "at least 0 seconds")
    }

    @Test func badAffinity() {
        expectError("name: etl\njobs:\n  - id: a\n    command: [x]\n    affinity: sticky\n", line: 5,
                    key: "jobs[0].affinity", "expected true, false, 'soft' or 'hard', got 'sticky'")
    }

    @Test func errorsPointIntoMergedAnchors() {
        expectError("""
            name: etl
            x-defaults: &d
              priority: high
            jobs:
              - id: a
                <<: *d
                command: [x]
            """, line: 3, key: "jobs[0].priority", "expected an integer, got 'high'")
    }
}
