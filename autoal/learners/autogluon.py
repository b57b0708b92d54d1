"""The default learner: an AutoGluon ``MultiModalPredictor`` retrained every round, fully offline."""

from __future__ import annotations

import copy
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from autoal.common.checks import POSITIVE_INT, check_option
from autoal.vision.backbones import (
    DEFAULT_ARCHITECTURE,
    PRETRAINED_SOURCES,
    pretrained_available,
    pretrained_checkpoint,
    random_init_checkpoint,
)
from autoal.vision.checkpoints import checkpoint_from_weights
from autoal.errors import InputError
from autoal.learners.autogluon_settings import (
    FEATURE_MODELS_LR,
    GPU_SETTINGS,
    check_text_checkpoint,
    fine_tune_hyperparameters,
    gpu_available,
    model_names,
    offline_hyperparameters,
)
from autoal.learners.autogluon_offline import explain_hub_errors, quiet_offline
from autoal.learners.base import Learner, pad_probabilities

__all__ = ["AutoGluonLearner", "DEFAULT_FRESH_FITS"]

#: Fits per round when rounds fit afresh and ``fits_per_round`` is not given: one seeded fit's curve dropped by
#: up to 0.035 between rounds on Fashion-MNIST; the mean of two did not drop by more than 0.018 (RESULTS.md).
DEFAULT_FRESH_FITS = 2


class AutoGluonLearner(Learner):
    """AutoGluon MultiModal on the image column and the run's other feature columns, saved every round.

    Numeric and categorical columns go to MultiModal's tabular models (``numerical_mlp``,
    ``categorical_mlp``), joined with the image network by ``fusion_mlp``; none needs a download. Text
    columns go to ``hf_text`` when ``text_checkpoint`` names a local Hugging Face checkpoint folder, and
    are left out (with a warning, or an error when nothing else is left) otherwise. Without an image
    column (``image_col=None``) it trains on the other columns alone.

    Parameters
    ----------
    checkpoint : path-like or "random-init", optional
        A local timm checkpoint folder (``config.json`` + ``pytorch_model.bin``) or a timm state-dict
        file (then ``architecture`` names its network). Default: ImageNet-pretrained MobileNetV2
        (:func:`autoal.vision.backbones.pretrained_checkpoint`) when its weights package is installed, else a
        randomly initialised ``architecture`` written once to autoal's cache; ``"random-init"``
        always takes the latter. None of them needs a download.
    architecture : str
        timm architecture of the random-init fallback or of a weights file.
    presets : str, optional
        AutoGluon presets passed to ``MultiModalPredictor``.
    hyperparameters : dict, optional
        Overrides merged over :func:`autoal.learners.autogluon_settings.offline_hyperparameters`.
    time_limit : float, optional
        Seconds per round's fit.
    image_size, max_epochs : int
        Image side in pixels and epochs per fit (default 128 px, 20 epochs: on digits and Fashion-MNIST 128 px
        climbed higher and steadier than 64 px, for a longer round; benchmarks/RESULTS.md, "The AutoGluon learner").
    lr, lr_choice, lr_decay, lr_mult : float, str, float, float
        AutoGluon's learning-rate scheme for the image network: ``optim.lr`` (default 1e-3: on digits it
        beat 4e-4, the rate of AutoGluon's ``medium_quality`` preset; benchmarks/RESULTS.md, "The AutoGluon learner"),
        ``"two_stages"`` (default: the new head at ``lr * lr_mult``, the backbone at ``lr``),
        ``"layerwise_decay"`` (each layer closer to the input gets ``lr_decay`` times the rate of the one
        after it) or ``"single"``; a cosine schedule with warm-up. With feature columns (tabular or text
        models, trained from scratch) the single rate 2e-3 measured for them is used instead.
    top_k : int
        Checkpoints averaged into the final model (uniform soup of the ``top_k`` best by the tuning rows).
    tuning_rows : int or None
        A stratified sample of at most this many labelled rows scores the checkpoints. They are
        trained on too: with few labels no example is left out of training just to pick a checkpoint.
        None: AutoGluon's own split (20% of the labelled rows held out of training).
    peft : str, optional
        AutoGluon's parameter-efficient fine-tuning (``optim.peft``): ``"norm_fit"`` trains the head,
        the normalisation layers and the biases only; None (default) trains every weight.
    continue_training : bool or None
        False: every round is a fresh fit from the pretrained checkpoint, reproducible with the run's
        seed. True: continue from the previous round's predictor when the class set is unchanged (faster per
        round, but its accuracy jumped between rounds: benchmarks/RESULTS.md, "The AutoGluon learner"). None
        (default): False for the image network alone, True when tabular or text models take part (they train
        from scratch, and a fresh 10-epoch fit left a text-and-numbers run at 0.45 where continuing reached 0.85
        and more).
    fits_per_round : int or None
        Fresh fits per round, each seeded differently (the run's seed, then that plus 1000, 2000, ...), whose
        predicted probabilities are averaged. None (default): 2 when rounds fit afresh, 1 when they continue
        (continued fits are one predictor). Two fits cost two fits' time per round; over 5 seeds on
        Fashion-MNIST and on digits they kept every run's curve from dropping by more than 0.03 between
        rounds, which one fit did not (benchmarks/RESULTS.md, "The AutoGluon learner"). More than 1 needs fresh fits
        (``continue_training`` not True).
    keep_models : bool
        Keep every round's predictor folders (default) or only the latest.
    quiet : bool
        Silence AutoGluon's and Lightning's logs and progress bars.
    text_checkpoint : path-like, optional
        A local Hugging Face checkpoint folder (``config.json``, weights, tokenizer files) for the text
        columns; nothing is downloaded, so without it text columns are not used.
    """

    def __init__(
        self,
        *,
        checkpoint=None,
        architecture=DEFAULT_ARCHITECTURE,
        presets=None,
        hyperparameters=None,
        time_limit=None,
        image_size=128,
        max_epochs=20,
        lr=1e-3,
        lr_choice="two_stages",
        lr_decay=0.9,
        lr_mult=10.0,
        top_k=3,
        tuning_rows=200,
        peft=None,
        continue_training=None,
        fits_per_round=None,
        keep_models=True,
        quiet=True,
        text_checkpoint=None,
    ):
        self.checkpoint = checkpoint
        self.architecture = architecture
        self.presets = presets
        self.hyperparameters = hyperparameters
        self.time_limit = time_limit
        self.image_size = image_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.lr_choice = lr_choice
        self.lr_decay = lr_decay
        self.lr_mult = lr_mult
        self.top_k = top_k
        self.tuning_rows = tuning_rows
        self.peft = peft
        self.continue_training = continue_training
        self.fits_per_round = fits_per_round
        self.keep_models = keep_models
        self.quiet = quiet
        self.text_checkpoint = text_checkpoint
        self.predictor_ = None
        self.members_ = []
        self.n_fits_ = 0
        self.checkpoint_dir_ = None  # the checkpoint folder the image network trains from (resolve_checkpoint)
        self.fit_classes_ = None  # the classes of the last fit
        self.predictor_paths_ = []  # saved predictor folders to load on first use (a loaded model, a worker's copy)
        self._fold_learner = None  # fold_learner()'s stand-in, built once

    def _models_dir(self) -> Path:
        if self.output_dir is None:
            self.output_dir = Path(tempfile.mkdtemp(prefix="autoal-models-"))
        return self.output_dir / "models"

    def _next_save_path(self) -> Path:
        """``models/fit_NN``: one folder per fit, numbered after any a resumed run already has."""
        models = self._models_dir()
        taken = [int(p.name[4:]) for p in models.glob("fit_*") if p.name[4:].isdigit()] if models.exists() else []
        return models / f"fit_{max(taken, default=-1) + 1:02d}"

    def resolve_checkpoint(self) -> Path:
        """The local checkpoint folder this learner trains from, created if needed; checks the user's path.

        ``checkpoint`` may also name a packaged pretrained network (a key of
        :data:`autoal.vision.backbones.PRETRAINED_SOURCES`, e.g. ``"tf_efficientnet_lite0"``)."""
        if self.checkpoint is None and pretrained_available():
            return pretrained_checkpoint()
        if isinstance(self.checkpoint, str) and self.checkpoint in PRETRAINED_SOURCES:
            return pretrained_checkpoint(self.checkpoint)
        if self.checkpoint is None or self.checkpoint == "random-init":
            return random_init_checkpoint(self.architecture, seed=self.random_state)
        path = Path(self.checkpoint).expanduser()
        if path.is_dir():
            missing = [name for name in ("config.json", "pytorch_model.bin") if not (path / name).is_file()]
            if missing:
                raise InputError(
                    f"checkpoint folder {str(path)!r} lacks {', '.join(missing)}; a timm checkpoint folder holds "
                    "config.json and pytorch_model.bin, or pass a timm weights file instead"
                )
            return path
        if path.is_file():
            return checkpoint_from_weights(path, self.architecture, out_dir=self._models_dir().parent / "backbone")
        raise InputError(f"checkpoint {str(path)!r} does not exist; pass a timm checkpoint folder or weights file")

    def _all_hyperparameters(self) -> dict:
        image = self.image_col is not None
        if image and self.checkpoint_dir_ is None:
            self.checkpoint_dir_ = self.resolve_checkpoint()
        hp = offline_hyperparameters(self.checkpoint_dir_ if image else None, image_size=self.image_size,
                                     max_epochs=self.max_epochs, lr=self.lr)
        hp["model.names"] = self._model_names()
        if self._image_only():
            hp.update(fine_tune_hyperparameters(image_size=self.image_size, lr=self.lr, lr_choice=self.lr_choice,
                                                lr_decay=self.lr_decay, lr_mult=self.lr_mult, top_k=self.top_k,
                                                peft=self.peft, gpu=gpu_available()))
        else:
            # MultiModal's tabular and text models (alone or fused with the image network) train from scratch: the
            # settings measured for them before the fine-tuning scheme (single rate 2e-3, best checkpoint on
            # AutoGluon's own split); with the scheme a deciding numeric column was learnt to 0.78-0.93, not 0.95+
            hp["optim.lr"] = FEATURE_MODELS_LR
            if gpu_available():
                hp.update(GPU_SETTINGS)
        if not image:
            hp = {k: v for k, v in hp.items() if not k.startswith("model.timm_image.")}
        if "numerical_mlp" in hp["model.names"]:
            # numerical_mlp normalises its input (pre-LayerNorm) before its first layer: on one numeric column that
            # is a constant, and the column is never learnt (measured: chance accuracy); a linear embedding of each
            # number first (as ft_transformer does) keeps it (accuracy 1.0 on the same data)
            hp["model.numerical_mlp.embedding_arch"] = ["linear"]
        if "categorical_mlp" in hp["model.names"]:
            # AutoGluon treats a category seen fewer than 100 times as unknown, so on a few hundred labels a
            # categorical column is dropped whole; keep every category seen (one-hot/embedding of each)
            hp["data.categorical.minimum_cat_count"] = 1
        if "hf_text" in hp["model.names"]:
            hp["model.hf_text.checkpoint_name"] = str(check_text_checkpoint(self.text_checkpoint))
            hp["model.hf_text.text_trivial_aug_maxscale"] = 0.0  # its text augmentation downloads NLTK data
        hp.update(self.hyperparameters or {})
        return hp

    # -- feature columns ----------------------------------------------------------------------------

    def usable_feature_columns(self, columns, *, image_col):
        """Everything but text columns when no ``text_checkpoint`` is given (warning, or InputError when
        nothing else is left); checks the text checkpoint folder."""
        if self.text_checkpoint is not None:
            check_text_checkpoint(self.text_checkpoint)
            if not columns.text:
                warnings.warn(f"autoal: text_checkpoint is set but no column is free text (features: {columns.used}); "
                              "name a text column in feature_cols={'column': 'text'} to use it", UserWarning, stacklevel=3)
        elif columns.text:
            why = ("free text, and no text model is configured: nothing can be downloaded here, so pass "
                   "learner_options={'text_checkpoint': PATH} (CLI: --text-checkpoint PATH), PATH a local Hugging Face "
                   "checkpoint folder (config.json, weights, tokenizer files), to use it")
            names = list(columns.text)
            columns = columns.without(names, why)
            if image_col is None and not columns.used:
                raise InputError(f"text columns {names} are the only features and cannot be used: {why}; or use "
                                 "learner='tabular', whose TabularPredictor reads text through n-gram counts")
            warnings.warn(f"autoal: text columns {names} are not used: {why}", UserWarning, stacklevel=3)
        if image_col is None and not columns.used:
            raise InputError("with image_col=None the AutoGluon learner needs feature columns, and df has none it can "
                             "use; add numeric or categorical columns, or name them with feature_cols=[...]")
        return columns

    def _frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` with only the columns MultiModal should read: the image, the feature columns, the label."""
        columns = self.feature_columns_of(df)
        keep = ([self.image_col] if self.image_col is not None else []) + columns.used
        keep += [self.label] if self.label in df.columns else []
        return df[keep]

    def _column_types(self) -> dict:
        types = {self.image_col: "image_path"} if self.image_col is not None else {}
        types.update(self.feature_columns.autogluon_column_types())
        if self.text_checkpoint is None:
            types = {k: v for k, v in types.items() if v != "text"}
        return types

    def fold_learner(self):
        """An :class:`~autoal.learners.EmbeddingLearner` on this learner's backbone, frozen (cached embeddings +
        logistic regression): the K fold models of ``oos="cross_val"`` would otherwise be K more
        fine-tunings per round."""
        from autoal.learners.embeddings import EmbeddingLearner
        from autoal.learners.tabular import TabularLearner
        from autoal.vision.image_size import DIVERSITY_FEATURE_SIDE

        if self._fold_learner is None:
            # the diversity embeddings' side (autoal.learners.embedding_source): one cache, and the size of older runs
            # standardised on the labelled rows with C=1, as measured in benchmarks/RESULTS.md (the embeddings
            # learner's later defaults, the run's statistics and C="auto", are not measured here)
            twin = EmbeddingLearner(checkpoint=self.resolve_checkpoint(), image_size=DIVERSITY_FEATURE_SIDE,
                                    standardise_on="labelled", C=1.0) \
                if self.image_col is not None \
                else TabularLearner(refit_full=False)  # no image: TabularPredictor on the same columns
            self._fold_learner = twin.configure(
                classes=self.classes, label=self.label, image_col=self.image_col, output_dir=self.output_dir,
                random_state=self.random_state, feature_columns=self.feature_columns)
        return self._fold_learner

    def fit(self, df: pd.DataFrame) -> "AutoGluonLearner":
        df = self._frame(df)
        train_classes = set(df[self.label])
        save_path = self._next_save_path()
        previous = self.predictor_
        continue_training = self.continue_training
        if continue_training is None:  # fresh fits for a pretrained image network, continued ones for models from scratch
            continue_training = not self._image_only()
        n_fits = self._checked_fits_per_round(continue_training)
        continued = bool(continue_training and previous is not None and train_classes == self.fit_classes_)
        hyperparameters = self._all_hyperparameters()
        tuning = self._tuning_rows(df)
        paths = [save_path] + [save_path.with_name(f"{save_path.name}-m{k}") for k in range(1, n_fits)]
        with quiet_offline(self.quiet), explain_hub_errors():
            if continued:
                previous.fit(df, tuning_data=tuning, hyperparameters=hyperparameters, time_limit=self.time_limit,
                             save_path=str(save_path), seed=self.random_state)
                members = [previous]
            else:
                members = [self._fresh_fit(df, tuning, hyperparameters, path, self._member_seed(k), train_classes)
                           for k, path in enumerate(paths)]
        if not self.keep_models:
            for old in self.members_:
                if Path(old.path) not in paths:
                    shutil.rmtree(old.path, ignore_errors=True)
        self.predictor_, self.members_ = members[0], members
        self.fit_classes_ = train_classes
        self.n_fits_ += 1
        self.last_fit_info_ = {"continued": continued, "model_dir": str(save_path),
                               "backbone": self.checkpoint_dir_.name if self.image_col is not None else None}
        if n_fits > 1:
            self.last_fit_info_["ensemble_size"] = n_fits
        return self

    def _checked_fits_per_round(self, continue_training: bool) -> int:
        n_fits = self.fits_per_round
        if n_fits is None:
            return 1 if continue_training else DEFAULT_FRESH_FITS
        check_option("fits_per_round", n_fits, POSITIVE_INT, None, hint="the number of fresh fits averaged each round")
        if n_fits > 1 and continue_training:
            raise InputError(f"fits_per_round={n_fits} averages fresh fits, but this learner continues the last "
                             "round's fit (continue_training=True, or tabular/text columns take part); pass "
                             "fits_per_round=1 or continue_training=False")
        return int(n_fits)

    def _member_seed(self, k: int):
        """The seed of a round's ``k``-th fit: the run's seed, then that plus 1000, 2000, ... (None stays None)."""
        return None if self.random_state is None else int(self.random_state) + 1000 * k

    def _fresh_fit(self, df, tuning, hyperparameters, path: Path, seed, train_classes):
        """One ``MultiModalPredictor`` trained from the pretrained checkpoint, saved in ``path``."""
        from autoal.common.torch_compat import import_multimodal_predictor

        from autoal.common.progress import on_terminal, task

        predictor = import_multimodal_predictor()(
            label=self.label,
            problem_type="binary" if len(train_classes) == 2 else "multiclass",
            path=str(path),
            presets=self.presets,
            eval_metric="accuracy",  # checkpoints chosen by what the run reports (binary would use roc_auc)
            verbosity=0,
            enable_progress_bar=not self.quiet or on_terminal(),  # Lightning's own bar, on a terminal
        )
        with task(f"fitting AutoGluon MultiModal on {len(df):,} labelled examples", unit="fit", bar=False):
            predictor.fit(df, tuning_data=tuning, hyperparameters=hyperparameters, time_limit=self.time_limit,
                          column_types=self._column_types(), seed=seed)
        return predictor

    def _model_names(self) -> list:
        return model_names(image=self.image_col is not None, features=self.feature_columns,
                           text_checkpoint=self.text_checkpoint)

    def _image_only(self) -> bool:
        """Whether the image network is the only model (the fine-tuning scheme applies), no tabular or text one."""
        return self._model_names() == ["timm_image"]

    def _tuning_rows(self, df: pd.DataFrame):
        """Up to ``tuning_rows`` of the training rows, stratified and seeded, that score the checkpoints; they
        stay in the training data (AutoGluon would otherwise hold out 20% of a small labelled set)."""
        if self.tuning_rows is None or not self._image_only():
            return None
        if len(df) <= self.tuning_rows:
            return df
        from sklearn.model_selection import train_test_split

        labels = df[self.label]
        stratify = labels if labels.value_counts().min() >= 2 else None
        tuning, _ = train_test_split(df, train_size=self.tuning_rows, stratify=stratify,
                                     random_state=self.random_state)
        return tuning

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Class probabilities, in ``classes`` order: the mean over the round's fits when ``fits_per_round`` > 1."""
        frame = self._frame(df)
        with quiet_offline(self.quiet):
            tables = [predictor.predict_proba(frame, as_pandas=True, as_multiclass=True)
                      for predictor in self._predictors()]
        return np.mean([pad_probabilities(t.to_numpy(), list(t.columns), self.classes) for t in tables], axis=0)

    def _predictors(self) -> list:
        """The round's fitted predictors; a :meth:`worker_copy` loads them from their saved folders on first use."""
        if not self.members_ and self.predictor_paths_:
            from autoal.common.torch_compat import import_multimodal_predictor

            with quiet_offline(self.quiet):
                load = import_multimodal_predictor().load
                self.members_ = [load(path, verbosity=0) for path in self.predictor_paths_]
            self.predictor_ = self.members_[0]
        return self.members_

    #: AutoGluon saves its predictors with pickle: loading a saved AutoGluon model runs code.
    saved_model_runs_code = True

    def save_fitted(self, folder) -> tuple:
        """The round's predictor folders (AutoGluon's own saved format), hard-linked into ``predictors/<k>``; loading
        them runs code (AutoGluon pickles), which :func:`autoal.load_model` says."""
        from autoal.learners.saved_state import link_tree

        members = []
        for k, path in enumerate(self._member_paths()):
            link_tree(path, Path(folder) / "predictors" / str(k))
            members.append(f"predictors/{k}")
        return {"members": members, "image_size": self.image_size, "quiet": self.quiet}, {}

    @classmethod
    def load_fitted(cls, state: dict, arrays: dict, folder) -> "AutoGluonLearner":
        """A learner predicting with the saved predictor folders (loaded on first use: AutoGluon unpickles them)."""
        learner = cls(image_size=state["image_size"], quiet=state.get("quiet", True))
        learner.predictor_paths_ = [str(Path(folder) / member) for member in state["members"]]
        return learner

    def _member_paths(self) -> list:
        """The saved folders of the round's fitted predictors."""
        if self.members_:
            return [str(p.path) for p in self.members_]
        return list(self.predictor_paths_)

    def worker_copy(self) -> "AutoGluonLearner":
        """A copy without the in-memory predictors: a worker loads them from their saved folders, which must be
        readable there (a shared filesystem on a multi-machine cluster)."""
        twin = copy.copy(self)
        if self.members_:
            twin.predictor_paths_ = [str(p.path) for p in self.members_]
        twin.predictor_, twin.members_ = None, []
        return twin
