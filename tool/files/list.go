package files

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/workspace"
)

// maxListEntries caps list_files' output.
const maxListEntries = 500

// ListFiles returns the list_files tool: path? (default ".").
func ListFiles() tool.Tool {
	return &spec{
		name:   "list_files",
		access: reads,
		description: "List a folder of the workspace: one entry per line, sorted by name, with its path relative to the workspace " +
			"(folders end in \"/\"), and the size of files. Without path, lists the top of the workspace. " +
			fmt.Sprintf("Shows at most %d entries; ", maxListEntries) +
			"list subfolders one by one, or use search_files to find files by content.",
		schema: &tool.Schema{
			Type: "object",
			Properties: map[string]*tool.Schema{
				"path": pathSchema(`The folder to list. Default "." (the top of the workspace)`),
			},
		},
		run: listFiles,
	}
}

func listFiles(ctx context.Context, ws *workspace.Workspace, raw json.RawMessage) (tool.Result, error) {
	const op = "list_files"
	var args struct {
		Path string `json:"path"`
	}
	if err := decode(op, raw, &args); err != nil {
		return tool.Result{}, err
	}
	if args.Path == "" {
		args.Path = "."
	}
	dir, err := workspace.Clean(args.Path)
	if err != nil {
		return tool.Result{}, err
	}
	if info, err := ws.Stat(dir); err == nil && !info.IsDir() {
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			return tool.Result{}, bulwark.Errorf(bulwark.PermissionDenied, op,
				"%q is a symbolic link, not a folder; the file tools do not follow links, so list the folder it names by its own path", args.Path)
		case !info.Mode().IsRegular():
			return tool.Result{}, bulwark.Errorf(bulwark.Invalid, op, "%q is a special file, not a folder", args.Path)
		}
		return tool.Result{}, bulwark.Errorf(bulwark.Invalid, op,
			"%q is a file (%s), not a folder; use read_file to read it", args.Path, plural(int(info.Size()), "byte"))
	}
	infos, err := ws.ReadDir(dir)
	if err != nil {
		return tool.Result{}, err
	}
	if len(infos) == 0 {
		return tool.Result{Output: fmt.Sprintf("folder %q is empty", dir)}, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "folder %q holds %s:\n", dir, plural(len(infos), "entry"))
	for i, info := range infos {
		if i == maxListEntries {
			fmt.Fprintf(&b, "[%d more entries not shown; list a subfolder, or use search_files]\n", len(infos)-i)
			break
		}
		name := path.Join(dir, info.Name())
		fmt.Fprintf(&b, "%s%s\n", strings.ToValidUTF8(name, "\uFFFD"), describeEntry(info))
	}
	// The names are outside text where files were uploaded or downloaded.
	return tool.Result{Output: strings.TrimSuffix(b.String(), "\n"), Untrusted: true}, nil
}

// describeEntry writes what follows an entry's path in list_files' output.
func describeEntry(info fs.FileInfo) string {
	mode := info.Mode()
	switch {
	case mode.IsDir():
		return "/"
	case mode.IsRegular():
		return fmt.Sprintf("  (%s)", plural(int(info.Size()), "byte"))
	case mode&fs.ModeSymlink != 0:
		return "  (symbolic link; the file tools do not follow it)"
	}
	return "  (special file; the file tools do not open it)"
}

// DeleteFile returns the delete_file tool: path.
func DeleteFile() tool.Tool {
	return &spec{
		name:        "delete_file",
		access:      writes | removes,
		description: "Delete one file from the workspace. Folders are not deleted.",
		schema: &tool.Schema{
			Type: "object",
			Properties: map[string]*tool.Schema{
				"path": pathSchema("The file to delete"),
			},
			Required: []string{"path"},
		},
		run: deleteFile,
	}
}

func deleteFile(ctx context.Context, ws *workspace.Workspace, raw json.RawMessage) (tool.Result, error) {
	const op = "delete_file"
	var args struct {
		Path string `json:"path"`
	}
	if err := decode(op, raw, &args); err != nil {
		return tool.Result{}, err
	}
	if info, err := ws.Stat(args.Path); err == nil && info.IsDir() {
		return tool.Result{}, bulwark.Errorf(bulwark.Invalid, op,
			"%q is a folder; delete_file deletes single files only, not folders", args.Path)
	}
	if err := ws.Remove(args.Path); err != nil {
		return tool.Result{}, withHint(op, err, "use list_files to see which files exist")
	}
	clean, _ := workspace.Clean(args.Path)
	return tool.Result{Output: fmt.Sprintf("deleted %q", clean)}, nil
}
