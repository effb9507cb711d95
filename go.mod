module github.com/bulwark-agents/bulwark

go 1.26
