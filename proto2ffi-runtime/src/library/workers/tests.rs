use super::*;
use std::sync::atomic::AtomicU64;
use std::sync::{mpsc, Arc};

struct Counted {
    ran: Arc<AtomicU64>,
    done: mpsc::Sender<()>,
}

impl Job for Counted {
    fn run(self: Box<Self>) {
        self.ran.fetch_add(1, Ordering::Relaxed);
        let _ = self.done.send(());
    }
    fn refuse(self: Box<Self>, _: Status) {
        panic!("refused");
    }
}

fn leak() -> &'static Workers {
    Box::leak(Box::new(Workers {
        keep_alive: Duration::from_secs(3600),
        ..Workers::new()
    }))
}

#[test]
fn every_job_runs_once_from_many_submitters() {
    let workers = leak();
    workers.set_max_threads(3);
    let ran = Arc::new(AtomicU64::new(0));
    let (done, finished) = mpsc::channel();
    let per = if cfg!(miri) { 25 } else { 500 };
    let submitters: Vec<_> = (0..4)
        .map(|_| {
            let (ran, done) = (ran.clone(), done.clone());
            std::thread::spawn(move || {
                for _ in 0..per {
                    let job = Counted {
                        ran: ran.clone(),
                        done: done.clone(),
                    };
                    workers.submit("test", Box::new(job));
                }
            })
        })
        .collect();
    for s in submitters {
        s.join().unwrap();
    }
    for _ in 0..4 * per {
        finished.recv().unwrap();
    }
    assert_eq!(ran.load(Ordering::Relaxed), 4 * per);
    assert!(workers.threads() <= 3);
}

struct Blocker {
    started: mpsc::Sender<()>,
    release: Arc<(Mutex<bool>, Condvar)>,
}

impl Job for Blocker {
    fn run(self: Box<Self>) {
        self.started.send(()).unwrap();
        let (lock, cv) = &*self.release;
        let mut go = lock.lock().unwrap();
        while !*go {
            go = cv.wait(go).unwrap();
        }
    }
    fn refuse(self: Box<Self>, _: Status) {
        panic!("refused");
    }
}

#[test]
fn the_pool_stops_growing_at_its_size_and_queues_the_rest() {
    let workers = leak();
    workers.set_max_threads(2);
    let release = Arc::new((Mutex::new(false), Condvar::new()));
    let (started, running) = mpsc::channel();
    for _ in 0..5 {
        let job = Blocker {
            started: started.clone(),
            release: release.clone(),
        };
        workers.submit("test", Box::new(job));
    }
    // Two run; three wait, whatever the timing.
    running.recv().unwrap();
    running.recv().unwrap();
    assert_eq!(workers.threads(), 2);
    assert_eq!(workers.lock().queue.len(), 3);
    *release.0.lock().unwrap() = true;
    release.1.notify_all();
    for _ in 0..3 {
        running.recv().unwrap();
    }
}

#[test]
fn a_shrinking_pool_passes_its_wake_ups_on() {
    // Three idle threads, then a bound of one: the thread a new job
    // wakes may be one that must leave. It hands the wake-up on, so
    // the job runs now, not when an idle thread's (here hour-long)
    // keep-alive runs out.
    let workers = leak();
    workers.set_max_threads(3);
    let release = Arc::new((Mutex::new(false), Condvar::new()));
    let (started, running) = mpsc::channel();
    for _ in 0..3 {
        let job = Blocker {
            started: started.clone(),
            release: release.clone(),
        };
        workers.submit("test", Box::new(job));
    }
    for _ in 0..3 {
        running.recv().unwrap();
    }
    *release.0.lock().unwrap() = true;
    release.1.notify_all();
    while workers.lock().idle < 3 {
        std::thread::yield_now();
    }
    workers.set_max_threads(1);
    for round in 0..3 {
        let (done, finished) = mpsc::channel();
        let ran = Arc::new(AtomicU64::new(0));
        workers.submit("test", Box::new(Counted { ran, done }));
        finished.recv().unwrap();
        assert!(workers.threads() >= 1, "round {round}");
    }
}

struct Panicking(mpsc::Sender<()>);

impl Job for Panicking {
    fn run(self: Box<Self>) {
        let done = self.0.clone();
        drop(self);
        done.send(()).unwrap();
        panic!("a job that unwinds");
    }
    fn refuse(self: Box<Self>, _: Status) {
        panic!("refused");
    }
}

#[test]
fn a_job_that_unwinds_leaves_its_thread_serving() {
    let workers = leak();
    workers.set_max_threads(1);
    let (done, finished) = mpsc::channel();
    for _ in 0..3 {
        workers.submit("test", Box::new(Panicking(done.clone())));
    }
    for _ in 0..3 {
        finished.recv().unwrap();
    }
    assert_eq!(workers.threads(), 1);
}

#[test]
fn jobs_arriving_around_the_spin_find_a_thread() {
    // One job at a time, each after a pause that falls before, inside or
    // after the idle thread's spin (`crate::sys::spin::SPIN_NS`): a job
    // that `submit` left to a spinner that then slept would wait forever
    // (the keep-alive is an hour), and `recv_timeout` fails.
    let workers = leak();
    workers.set_max_threads(2);
    let ran = Arc::new(AtomicU64::new(0));
    let (done, finished) = mpsc::channel();
    let jobs = if cfg!(miri) { 20 } else { 400 };
    for i in 0..jobs {
        let pause = std::time::Duration::from_nanos((i * 7_919) % (2 * crate::sys::spin::SPIN_NS));
        let start = std::time::Instant::now();
        while start.elapsed() < pause {
            std::hint::spin_loop();
        }
        let job = Counted {
            ran: ran.clone(),
            done: done.clone(),
        };
        workers.submit("test", Box::new(job));
        finished
            .recv_timeout(Duration::from_secs(20))
            .expect("a job was left waiting");
    }
    assert_eq!(ran.load(Ordering::Relaxed), jobs);
}
