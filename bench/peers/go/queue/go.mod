module weftbench/queue

go 1.19
