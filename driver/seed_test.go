package driver

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestSeedIdentifiers checks that every identifier of the seed contract
// (shared/seed/drivers-api.txt) exists, exported, with a doc comment, and
// that every exported name of the package is documented.
func TestSeedIdentifiers(t *testing.T) {
	fset := token.NewFileSet()
	var files []*ast.File
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	pkg, err := doc.NewFromFiles(fset, files, "github.com/jetrun/jetrun/driver")
	if err != nil {
		t.Fatal(err)
	}
	if pkg.Doc == "" {
		t.Error("package driver has no package doc")
	}

	docs := map[string]string{} // name -> doc comment
	for _, v := range append(pkg.Consts, pkg.Vars...) {
		for _, n := range v.Names {
			docs[n] = v.Doc
			for _, spec := range v.Decl.Specs {
				vs := spec.(*ast.ValueSpec)
				for _, id := range vs.Names {
					if id.Name == n && vs.Doc != nil {
						docs[n] = vs.Doc.Text()
					}
				}
			}
		}
	}
	for _, f := range pkg.Funcs {
		docs[f.Name] = f.Doc
	}
	for _, typ := range pkg.Types {
		docs[typ.Name] = typ.Doc
		for _, v := range append(typ.Consts, typ.Vars...) {
			for _, n := range v.Names {
				docs[n] = v.Doc
			}
		}
		for _, f := range append(typ.Funcs, typ.Methods...) {
			docs[typ.Name+"."+f.Name] = f.Doc
			if len(f.Recv) == 0 {
				docs[f.Name] = f.Doc
			}
		}
		// Interface methods carry their docs in the type's declaration.
		for _, spec := range typ.Decl.Specs {
			if it, ok := spec.(*ast.TypeSpec).Type.(*ast.InterfaceType); ok {
				for _, m := range it.Methods.List {
					for _, n := range m.Names {
						docs[typ.Name+"."+n.Name] = m.Doc.Text()
					}
				}
			}
		}
	}

	seed := []string{
		"StatusRunning", "StatusSuccess", "StatusError", "StatusTimeout", "StatusKilled", "StatusCancelled",
		"ErrOutOfMemory", "ParseImage", "Config", "ContainerTask", "Cookie", "Driver", "Memory",
		"Memory.UnmarshalJSON", "RunResult", "Stat", "Decimate",
		"ContainerTask.Command", "ContainerTask.EnvVars", "ContainerTask.Input", "ContainerTask.Labels",
		"ContainerTask.Id", "ContainerTask.Image", "ContainerTask.Timeout", "ContainerTask.Logger",
		"ContainerTask.WriteStat", "ContainerTask.Volumes", "ContainerTask.WorkDir", "ContainerTask.Close",
		"Cookie.Run", "Driver.Prepare", "Driver.IsAlive", "RunResult.Status",
	}
	for _, name := range seed {
		d, ok := docs[name]
		if !ok {
			t.Errorf("seed identifier %s is missing", name)
			continue
		}
		if strings.TrimSpace(d) == "" {
			t.Errorf("seed identifier %s has no doc comment", name)
		}
	}
	for name, d := range docs {
		if strings.TrimSpace(d) == "" {
			t.Errorf("exported %s has no doc comment", name)
		}
	}
}
