package sandbox

import (
	"encoding/json"
	"errors"
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
	// bucketQuarantine holds records load could not decode, under "<bucket>/<id>".
	bucketQuarantine = []byte("quarantine")
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

// badRecord is a record load could not decode.
type badRecord struct {
	key string // "<bucket>/<id>", its key in the quarantine bucket too
	err error
}

// load returns every record. A record that does not decode is moved, as it is, to the
// quarantine bucket (for a person to look at) and reported in bad: one torn record must
// not keep the daemon from starting, nor be lost without a word.
func (s *store) load() (pods []*Pod, ctrs []*Container, bad []badRecord, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		pods, ctrs, bad = nil, nil, nil // Update may run fn again
		podBad, err := eachRecord(tx, bucketPods, func(v []byte) error {
			p, err := decodePod(v)
			if err == nil {
				pods = append(pods, p)
			}
			return err
		})
		if err != nil {
			return err
		}
		ctrBad, err := eachRecord(tx, bucketContainers, func(v []byte) error {
			c, err := decodeContainer(v)
			if err == nil {
				ctrs = append(ctrs, c)
			}
			return err
		})
		bad = append(podBad, ctrBad...)
		return err
	})
	return pods, ctrs, bad, err
}

// eachRecord calls decode for each record of bucket and quarantines those it refuses.
func eachRecord(tx *bolt.Tx, bucket []byte, decode func(v []byte) error) ([]badRecord, error) {
	b := tx.Bucket(bucket)
	var bad []badRecord
	var keys [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if err := decode(v); err != nil {
			bad = append(bad, badRecord{key: string(bucket) + "/" + string(k), err: err})
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil || len(bad) == 0 {
		return bad, err
	}
	q, err := tx.CreateBucketIfNotExists(bucketQuarantine)
	if err != nil {
		return nil, err
	}
	for i, k := range keys { // not while iterating: ForEach forbids changes
		if err := q.Put([]byte(bad[i].key), b.Get(k)); err != nil {
			return nil, err
		}
		if err := b.Delete(k); err != nil {
			return nil, err
		}
	}
	return bad, nil
}

func decodePod(v []byte) (*Pod, error) {
	var rec podRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, err
	}
	p := rec.Pod
	p.Config = &runtimeapi.PodSandboxConfig{}
	if err := proto.Unmarshal(rec.Config, p.Config); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if rec.Resources != nil {
		p.Resources = &runtimeapi.LinuxContainerResources{}
		if err := proto.Unmarshal(rec.Resources, p.Resources); err != nil {
			return nil, fmt.Errorf("resources: %w", err)
		}
	}
	if p.ID == "" {
		return nil, errors.New("no id")
	}
	return &p, nil
}

func decodeContainer(v []byte) (*Container, error) {
	var rec containerRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, err
	}
	c := rec.Container
	c.Config = &runtimeapi.ContainerConfig{}
	if err := proto.Unmarshal(rec.Config, c.Config); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if c.ID == "" || c.PodID == "" {
		return nil, errors.New("no id or pod id")
	}
	if c.Spec == nil {
		c.Spec = &specs.Spec{}
	}
	return &c, nil
}
