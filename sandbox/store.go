package sandbox

import (
	"encoding/json"
	"fmt"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The store keeps one record per pod and per container in bbolt. Every Put is its own
// transaction, fsynced by bbolt before it returns, so a crash leaves the old or the new
// record (CRI-O #4285). The in-memory index is the source for reads; the store is read
// only at start.

var (
	bucketPods       = []byte("pods")
	bucketContainers = []byte("containers")
)

type store struct{ db *bolt.DB }

func openStore(path string) (*store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketPods, bucketContainers} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

// podRecord is Pod on disk: the CRI config as protobuf bytes, the rest as JSON.
type podRecord struct {
	Pod
	Config    []byte `json:"config"`
	Resources []byte `json:"resources,omitempty"`
}

type containerRecord struct {
	Container
	Config []byte `json:"config"`
}

func (s *store) putPod(p *Pod) error {
	cfg, err := proto.Marshal(p.Config)
	if err != nil {
		return err
	}
	rec := podRecord{Pod: *p, Config: cfg}
	rec.Pod.Config, rec.Pod.Resources = nil, nil
	if p.Resources != nil {
		if rec.Resources, err = proto.Marshal(p.Resources); err != nil {
			return err
		}
	}
	return s.put(bucketPods, p.ID, rec)
}

func (s *store) putContainer(c *Container) error {
	cfg, err := proto.Marshal(c.Config)
	if err != nil {
		return err
	}
	rec := containerRecord{Container: *c, Config: cfg}
	rec.Container.Config = nil
	return s.put(bucketContainers, c.ID, rec)
}

func (s *store) put(bucket []byte, id string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(id), data) })
}

func (s *store) deletePod(id string) error       { return s.del(bucketPods, id) }
func (s *store) deleteContainer(id string) error { return s.del(bucketContainers, id) }

func (s *store) del(bucket []byte, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(id)) })
}

// load returns every record; a record that does not decode is reported in bad (its id) and
// skipped so one torn record cannot keep the daemon from starting.
func (s *store) load() (pods []*Pod, ctrs []*Container, bad []string, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		tx.Bucket(bucketPods).ForEach(func(k, v []byte) error {
			var rec podRecord
			cfg := &runtimeapi.PodSandboxConfig{}
			if json.Unmarshal(v, &rec) != nil || proto.Unmarshal(rec.Config, cfg) != nil {
				bad = append(bad, "pod "+string(k))
				return nil
			}
			p := rec.Pod
			p.Config = cfg
			if rec.Resources != nil {
				p.Resources = &runtimeapi.LinuxContainerResources{}
				_ = proto.Unmarshal(rec.Resources, p.Resources)
			}
			pods = append(pods, &p)
			return nil
		})
		return tx.Bucket(bucketContainers).ForEach(func(k, v []byte) error {
			var rec containerRecord
			cfg := &runtimeapi.ContainerConfig{}
			if json.Unmarshal(v, &rec) != nil || proto.Unmarshal(rec.Config, cfg) != nil {
				bad = append(bad, "container "+string(k))
				return nil
			}
			c := rec.Container
			c.Config = cfg
			if c.Spec == nil {
				c.Spec = &specs.Spec{}
			}
			ctrs = append(ctrs, &c)
			return nil
		})
	})
	return pods, ctrs, bad, err
}
