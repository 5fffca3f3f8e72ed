module weftbench/executor

go 1.19
